#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole suite (fast tests; add -m slow for
# the slow ones). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
PY=.venv/bin/python
[ -n "${VIRTUAL_ENV:-}" ] && PY=python
# k-diffusion is a test-only reference whose declared deps (torchvision, clip, …) we do not
# want: its sampling module is loaded by file path.
"$PY" -m pip install -q --no-deps k-diffusion==0.1.1.post1
# Lint and types: ruff on everything, mypy --strict on the torch-free packages (pyproject.toml).
"$PY" -m ruff check .
"$PY" -m mypy
# The editor's JavaScript unit tests (plain ES modules) when Node is installed.
if command -v node >/dev/null 2>&1; then
  node --test web/tests/
else
  echo "test: node not found; skipping the JavaScript unit tests (web/tests/)"
fi
# The fuzz suites run their full example counts (tests/conftest.py: the "ci" profile).
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
"$PY" -m pytest -m "not slow" "$@"
# The Ray backend's tests (tests/ray, marked slow and ray) start a small local Ray instance
# and a few actors: a step of their own, about two minutes on 2 cores.
exec "$PY" -m pytest -m ray tests/ray "$@"
