"""Loader node definitions the official ComfyUI frontend assumes exist.

Frontend 1.27 maps model folders to loader nodes (its ``modelToNodeStore``: checkpoints →
CheckpointLoaderSimple and ImageOnlyCheckpointLoader, controlnet → ControlNetLoader,
upscale_models → UpscaleModelLoader, style_models → StyleModelLoader, gligen → GLIGENLoader …)
and reads each one's definition from ``/object_info`` whenever it builds a model-file combo
widget. A class missing there throws inside that code, so every ``ckpt_name`` widget fails and
the default workflow's checkpoint loader shows as a broken node.

With ``--frontend comfyui``, ``/object_info`` therefore also lists the loaders of that map we do
not have, marked ``deprecated`` (the frontend hides them from search and the node library) and
described as unavailable. They are definitions only: a prompt that uses one is refused by
validation as an unknown node type, as before.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

# class -> (combo input, outputs), ComfyUI v0.3.64's names
FRONTEND_LOADERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ImageOnlyCheckpointLoader": ("ckpt_name", ("MODEL", "CLIP_VISION", "VAE")),
    "ControlNetLoader": ("control_net_name", ("CONTROL_NET",)),
    "UpscaleModelLoader": ("model_name", ("UPSCALE_MODEL",)),
    "StyleModelLoader": ("style_model_name", ("STYLE_MODEL",)),
    "GLIGENLoader": ("gligen_name", ("GLIGEN",)),
}
UNAVAILABLE = ("Not available in latentgraph. Listed (hidden) only because the official ComfyUI "
               "frontend expects this loader to exist; a prompt using it is refused.")


def placeholder(name: str, input_name: str, outputs: tuple[str, ...]) -> dict[str, Any]:
    return {
        "input": {"required": {input_name: [[], {"tooltip": UNAVAILABLE}]}},
        "input_order": {"required": [input_name]},
        "output": list(outputs), "output_is_list": [False] * len(outputs),
        "output_name": list(outputs), "name": name, "display_name": name,
        "description": UNAVAILABLE, "python_module": "nodes", "category": "loaders",
        "output_node": False, "deprecated": True,
    }


def missing_loaders(registered: Container[str]) -> dict[str, dict[str, Any]]:
    """Placeholder definitions of the frontend's loaders that ``registered`` lacks."""
    return {name: placeholder(name, input_name, outputs)
            for name, (input_name, outputs) in FRONTEND_LOADERS.items()
            if name not in registered}
