"""The embedded demo model shipped inside the package: where it lies and how to sample it.

``latentgraph-shapes-v1.safetensors`` (SD1.x layout, fp16) is trained from scratch by
``latentgraph train-demo``; ``MODEL_CARD.md`` beside it gives its data, recipe, training time and
measured adherence. The model folders always search this directory for checkpoints (last, so a
user's file of the same name wins).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EMBEDDED_DIR = Path(__file__).resolve().parent
DEMO_CHECKPOINT = "latentgraph-shapes-v1.safetensors"

# The model card's recommended settings; the editor's default workflow uses the same values.
RECOMMENDED: dict[str, Any] = {
    "width": 128,
    "height": 128,
    "steps": 20,
    "cfg": 2.0,
    "sampler_name": "euler",
    "scheduler": "normal",
}
