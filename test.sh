#!/usr/bin/env bash
# Run the test-suite in the project's virtual environment (created when missing).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --editable '.[test]'
exec .venv/bin/python -m pytest "$@"
