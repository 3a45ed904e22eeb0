"""Everything that talks to Zendesk: the gateway, pacing, provisioning, the live check, and the account's state.

May import the core and the configuration; never the service, the admin commands or the sandbox.
"""
