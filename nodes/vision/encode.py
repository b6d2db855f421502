"""CLIP vision encoding on the model manager's device: ComfyUI's ``ClipVisionModel.encode_image``
(and the IPAdapter plugin's masked variant) for the vision and IP-Adapter nodes."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from diffusion.loading.checkpoint import OpenedCheckpoint
from diffusion.memory import ModelHandle
from diffusion.vision import VISION_COMPONENT, CLIPVisionModel, VisionConfig, clip_preprocess
from nodes.api import RunContext
from nodes.vision_payloads import ClipVision, ClipVisionOutput


def vision_payload(handles: dict[str, Any] | Any, what: str) -> ClipVision:
    """The CLIP_VISION of an opened file's handles; ``what`` names the node input for errors."""
    handle = handles.get(VISION_COMPONENT)
    if handle is None:
        raise ValueError(f"{what} holds no CLIP vision model (components {sorted(handles)})")
    return ClipVision(handle, module_config(handle, VisionConfig))


def module_config(handle: ModelHandle, kind: type[Any]) -> Any:
    """The detected configuration of ``handle``'s component (a ``ModuleFile``, or an extra
    component of a checkpoint)."""
    opened = handle.opened
    if isinstance(opened, OpenedCheckpoint):
        opened = opened.extras[handle.component]
    config = getattr(opened, "config", None)
    if not isinstance(config, kind):
        raise TypeError(f"{handle.key.path}: component {handle.component!r} has no "
                        f"{kind.__name__}")
    return config


def encode_image(ctx: RunContext, clip_vision: ClipVision, image: Tensor, *, crop: bool = True,
                 mask: Tensor | None = None) -> ClipVisionOutput:
    """Encodes IMAGE (B, H, W, C); ``mask`` (B or 1, S, S) multiplies the normalised pixels
    (the plugin's ``encode_image_masked``)."""
    if not isinstance(clip_vision, ClipVision):
        raise TypeError(f"expected a CLIP_VISION, got {type(clip_vision).__name__}")
    pixels = clip_preprocess(image, clip_vision.config.image_size, crop=crop)  # (B, 3, S, S)
    if mask is not None:
        pixels = pixels * mask.float().unsqueeze(1)
    with ctx.models.use(clip_vision.handle) as model, torch.no_grad():
        assert isinstance(model, CLIPVisionModel)
        out = model(pixels.to(ctx.models.device))
    return ClipVisionOutput(out.last_hidden_state.float().cpu(),
                            out.penultimate_hidden_states.float().cpu(),
                            out.image_embeds.float().cpu())
