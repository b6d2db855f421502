#!/usr/bin/env bash
# Installs what is missing, then starts the server on http://127.0.0.1:8188 (base dir: ./data).
# Extra arguments go to `latentgraph serve` (e.g. --port 8190 --models-dir ~/ComfyUI/models).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
[ -n "${VIRTUAL_ENV:-}" ] && PY=python
exec "$PY" -m latentgraph.cli serve --base-dir "${LATENTGRAPH_BASE_DIR:-data}" "$@"
