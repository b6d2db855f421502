"""The model files a job will load, read from its prompt (for model-affinity routing).

A loader node names its file in a literal input (``ckpt_name`` of CheckpointLoaderSimple,
``unet_name``, ``lora_name`` …), so the files a prompt needs are known before it runs, without
its node classes: the routing in ``executor.routing`` sends the job to a worker that already
holds them. Linked inputs (a name computed by another node) are not known here and are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MODEL_INPUTS = frozenset({
    "ckpt_name", "unet_name", "vae_name", "lora_name", "clip_name", "clip_name1", "clip_name2",
    "clip_name3", "control_net_name", "style_model_name", "model_name", "ipadapter_file",
    "hypernetwork_name", "gligen_name", "upscale_model_name",
})
"""Input names whose literal string value is a model file (ComfyUI's loader nodes)."""


def model_names(prompt: Mapping[str, Any]) -> frozenset[str]:
    """The file names (last path component) of every model the loader nodes name literally."""
    names: set[str] = set()
    for node in prompt.values():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        if not isinstance(inputs, Mapping):
            continue
        for key, value in inputs.items():
            if key in MODEL_INPUTS and isinstance(value, str) and value:
                names.add(file_name(value))
    return frozenset(names)


def file_name(path: str) -> str:
    """A held model's name as a prompt names it: the last path component (``a/b.ckpt`` and
    ``C:\\m\\b.ckpt`` → ``b.ckpt``); routing compares these."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]
