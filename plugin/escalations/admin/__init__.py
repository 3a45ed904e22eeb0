"""The admin commands (`escalations ...`): setup, serve, doctor, report, demo, uninstall, the app and theme packages.

May import every other part; only `cli` (which runs the sandbox) and `demo` (which tours it) import the sandbox.
"""
