#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole suite (fast tests; add -m slow for
# the slow ones). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
PY=.venv/bin/python
[ -n "${VIRTUAL_ENV:-}" ] && PY=python
exec "$PY" -m pytest -m "not slow" "$@"
