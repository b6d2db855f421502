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
# spandrel (MIT; loads upscale models) comes without its declared dependencies: its wheel
# requires torchvision, and pip would fetch a PyPI torchvision built for another torch (a
# multi-GB CUDA build), replacing or breaking the torch in use. spandrel imports torchvision
# only for two architectures we refuse (LaMa, RestoreFormer), and
# diffusion/upscale/torchvision_compat.py stands in where torchvision is unusable. So it is not
# in pyproject.toml's dependencies; its light dependencies are installed explicitly.
if ! "$PY" -c "import importlib.metadata as m; assert m.version('spandrel') == '0.4.2'; m.version('einops')" 2>/dev/null; then
  echo "setup: installing spandrel==0.4.2 (--no-deps) and its light dependencies"
  "$PY" -m pip install -q --no-deps spandrel==0.4.2
  "$PY" -m pip install -q einops==0.8.2 typing_extensions safetensors numpy
fi
# The editor's pinned third-party files (litegraph), integrity-checked; no Node needed.
"$PY" scripts/fetch_web_deps.py
"$PY" -c "import torch; print('setup: torch', torch.__version__)"
