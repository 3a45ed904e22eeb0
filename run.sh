#!/usr/bin/env bash
# Set up and run the escalation service. With credentials in .env it serves your
# Zendesk account; without, it starts a local sandbox that behaves like Zendesk.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --editable .
exec .venv/bin/escalations start "$@"
