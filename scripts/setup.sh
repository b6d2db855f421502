#!/usr/bin/env bash
# One-time set-up, safe to repeat: a virtual environment in .venv (unless one is active),
# torch 2.13.0 only when no torch is importable (a CUDA torch you already have is kept),
# then this project in editable mode. Pass "test" to add the test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    # --system-site-packages: a torch already installed for this Python stays visible.
    "$PYTHON" -m venv --system-site-packages .venv
  fi
  PY=.venv/bin/python
else
  PY=python
fi
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "setup: no torch found; installing torch==2.13.0"
  "$PY" -m pip install -q torch==2.13.0
fi
extra=""
[ "${1:-}" = "test" ] && extra="[test]"
"$PY" -m pip install -q -e ".${extra}"
# The editor's pinned third-party files (litegraph), integrity-checked; no Node needed.
"$PY" scripts/fetch_web_deps.py
"$PY" -c "import torch; print('setup: torch', torch.__version__)"
