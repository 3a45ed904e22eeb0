"""Escalation requests for Zendesk: customers ask for an escalation in a comment, the service records it once.

`core` holds the rules and words, `zendesk` talks to Zendesk, `service` runs, `admin` is the `escalations`
command, `sandbox` is a local Zendesk; `config` reads the settings. README's "Architecture" draws the map.
"""
