#!/usr/bin/env bash
# Run the test-suite in the project's virtual environment (created when missing), in four processes
# (TEST_PROCESSES, 0 for one): on two cores four ran fastest, eight overloaded them.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --editable '.[test]'
# The tests start hundreds of service processes: let each read compiled modules rather than compile them anew.
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/python -m pytest -n "${TEST_PROCESSES:-4}" --dist loadfile --no-loadscope-reorder "$@"
