"""unCLIPConditioning and unCLIPCheckpointLoader (ComfyUI's ``nodes.py``).

unCLIPConditioning appends the image embeddings to every entry's unCLIP list (strength 0
returns the conditioning as it is, as ComfyUI); the sampler turns them into the ADM input of an
SD2.1 unCLIP model or, on SDXL, the pooled input (Revision); other models ignore them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from diffusion.guidance.cond import Cond, UnclipEntry
from nodes.api import (
    CLIP,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    MODEL,
    VAE,
    Blocked,
    Float,
    Link,
    Node,
    Output,
    RunContext,
)
from nodes.models.loaders import CheckpointLoaderSimple
from nodes.models.pickers import model_picker
from nodes.vision.encode import vision_payload
from nodes.vision_payloads import ClipVisionOutput


class unCLIPConditioning(Node):  # noqa: N801 - ComfyUI's node name
    """Conditions on images through an unCLIP model's image embedding input (SD2.1 unCLIP),
    or SDXL's pooled input (Revision). strength scales the embedding; noise_augmentation
    noises it (more noise: looser resemblance)."""

    display_name = "unCLIPConditioning"
    category = "conditioning"
    inputs = (
        Link("conditioning", CONDITIONING, tooltip="The conditioning to add the images to."),
        Link("clip_vision_output", CLIP_VISION_OUTPUT, tooltip="The encoded images."),
        Float("strength", default=1.0, min=-10.0, max=10.0, step=0.01,
              tooltip="How strongly the images condition (0: unchanged)."),
        Float("noise_augmentation", default=0.0, min=0.0, max=1.0, step=0.01,
              tooltip="Noise added to the image embeddings (0 to 1 of the schedule)."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: tuple[Cond, ...],
            clip_vision_output: ClipVisionOutput, strength: float,
            noise_augmentation: float) -> tuple[Any, ...]:
        if strength == 0:
            return (conditioning,)
        if not isinstance(clip_vision_output, ClipVisionOutput):
            raise TypeError(f"unCLIPConditioning input 'clip_vision_output': expected a "
                            f"CLIP_VISION_OUTPUT, got {type(clip_vision_output).__name__}")
        entry = UnclipEntry(clip_vision_output.image_embeds, strength, noise_augmentation)
        return (tuple(dataclasses.replace(c, unclip=(*c.unclip, entry)) for c in conditioning),)


class unCLIPCheckpointLoader(CheckpointLoaderSimple):  # noqa: N801 - ComfyUI's node name
    """Loads an unCLIP checkpoint (SD2.1 unCLIP H or L) with its CLIP vision tower."""

    display_name = "unCLIPCheckpointLoader"
    category = "loaders"
    pickers = {"ckpt_name": "checkpoints"}
    inputs = (model_picker("ckpt_name", "checkpoints", "The unCLIP checkpoint to load."),)
    outputs = (Output(MODEL), Output(CLIP), Output(VAE), Output(CLIP_VISION))

    def run(self, ctx: RunContext, ckpt_name: str) -> tuple[Any, ...]:
        model, clip, vae = super().run(ctx, ckpt_name)
        handles = ctx.models.open(self.model_path(ctx.model_files, "ckpt_name", ckpt_name))
        what = f"unCLIPCheckpointLoader input 'ckpt_name': {ckpt_name!r}"
        vision = vision_payload(handles, what) if "clip_vision" in handles else Blocked(
            f"{what} has no CLIP vision model (not an unCLIP checkpoint); load one with "
            "CLIPVisionLoader")
        return (model, clip, vae, vision)
