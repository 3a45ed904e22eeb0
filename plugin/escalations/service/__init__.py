"""What runs: the webhook front, the queue, the worker and its handling, the sweep, notifications, metrics, logs.

May import the core, the configuration and the Zendesk side; never the admin commands or the sandbox.
"""
