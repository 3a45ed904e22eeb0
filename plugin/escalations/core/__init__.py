"""The escalation rules and words, pure: policy, reading a comment, working time, locales, fields, signatures, messages.

Imports nothing of the rest of the package.
"""
