"""The embedded demo model and its add-ons shipped inside the package: where they lie and how
to sample them.

``checkpoints/latentgraph-shapes-v1.safetensors`` (SD1.x layout, fp16) is trained from scratch by
``latentgraph train-demo``; its ControlNet (``controlnet/latentgraph-shapes-v1-control``) and
outline-style LoRA (``loras/latentgraph-shapes-v1-outline``) by ``train-demo --stage controlnet``
and ``--stage lora``. ``MODEL_CARD.md`` gives their data, recipes, training times and measured
figures. The model folders always search ``EMBEDDED_PATHS[folder]`` for these folders (last, so
a user's file of the same name wins).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EMBEDDED_DIR = Path(__file__).resolve().parent
# Model folder name -> the embedded folder always on its search path.
EMBEDDED_PATHS: dict[str, Path] = {
    name: EMBEDDED_DIR / name for name in ("checkpoints", "controlnet", "loras")
}
DEMO_CHECKPOINT = "latentgraph-shapes-v1.safetensors"
DEMO_CONTROLNET = "latentgraph-shapes-v1-control.safetensors"
DEMO_LORA = "latentgraph-shapes-v1-outline.safetensors"

# The model card's recommended settings; the editor's default workflow uses the same values.
RECOMMENDED: dict[str, Any] = {
    "width": 128,
    "height": 128,
    "steps": 20,
    "cfg": 2.0,
    "sampler_name": "euler",
    "scheduler": "normal",
}
