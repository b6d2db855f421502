#!/usr/bin/env bash
# One-time set-up, safe to repeat: a virtual environment in .venv (unless one is active),
# torch 2.13.0 only when no torch is importable (a CUDA torch you already have is kept),
# then this project in editable mode. Pass "test" to add the test dependencies.
# A repeat with nothing changed (same pyproject.toml, same extra) installs nothing and needs
# no network: it only checks that the package imports.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    # --system-site-packages: a torch already installed for this Python stays visible.
    "$PYTHON" -m venv --system-site-packages .venv
  fi
  PY=.venv/bin/python
else
  PY=python
fi
extra=""
[ "${1:-}" = "test" ] && extra="[test]"
stamp_dir=$("$PY" -c "import sys; print(sys.prefix)")
stamp="$stamp_dir/.latentgraph-setup"
hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
wanted="$hash ${extra:-[]}"
done_before=""
if [ -f "$stamp" ]; then
  # a test set-up also satisfies a plain one
  grep -qxF "$wanted" "$stamp" && done_before=1
  [ -z "$extra" ] && grep -qxF "$hash [test]" "$stamp" && done_before=1
fi
if [ -n "$done_before" ] && "$PY" -c "import latentgraph, torch" 2>/dev/null; then
  echo "setup: up to date ($PY; delete $stamp to reinstall)"
else
  if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "setup: no torch found; installing torch==2.13.0"
    "$PY" -m pip install -q torch==2.13.0
  fi
  echo "setup: installing latentgraph${extra} in editable mode (pip)"
  "$PY" -m pip install -q -e ".${extra}"
  echo "$wanted" > "$stamp"
fi
# The editor's pinned third-party files (litegraph), integrity-checked; no Node needed.
"$PY" scripts/fetch_web_deps.py
"$PY" -c "import torch; print('setup: torch', torch.__version__)"
