"""UpscaleModelLoader and ImageUpscaleWithModel (ComfyUI's
``comfy_extras/nodes_upscale_model.py``): spandrel models from the ``upscale_models`` folder,
applied in tiles."""

from __future__ import annotations

from typing import Any

import torch

from diffusion.upscale import UpscaleModel, load_upscale_model, upscale_pixels
from nodes.api import IMAGE, UPSCALE_MODEL, Link, Node, Output, RunContext
from nodes.models.pickers import ModelPickerNode, model_picker


class UpscaleModelLoader(ModelPickerNode):
    """Loads a super-resolution model (ESRGAN, RealESRGAN, SwinIR, HAT, …; spandrel's core
    architectures) from the upscale_models folder. Pickles are read weights-only; inpainting
    and face-restoration models are refused."""

    display_name = "Load Upscale Model"
    category = "loaders"
    pickers = {"model_name": "upscale_models"}
    inputs = (model_picker("model_name", "upscale_models",
                           "The upscale model file (.safetensors, .pth, .pt, .ckpt)."),)
    outputs = (Output(UPSCALE_MODEL),)

    def run(self, ctx: RunContext, model_name: str) -> tuple[Any, ...]:
        model = load_upscale_model(self.model_path(ctx.model_files, "model_name", model_name))
        ctx.note("upscale_model", {"architecture": model.architecture, "scale": model.scale,
                                   "purpose": model.descriptor.purpose})
        return (model,)


class ImageUpscaleWithModel(Node):
    """Upscales the images with an upscale model, in tiles of 512 pixels overlapping by 32
    (halved when memory runs out, down to 128). An alpha channel is resized bilinearly."""

    display_name = "Upscale Image (using Model)"
    category = "image/upscaling"
    inputs = (
        Link("upscale_model", UPSCALE_MODEL, tooltip="The model from Load Upscale Model."),
        Link("image", IMAGE, tooltip="The images to upscale."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, upscale_model: UpscaleModel,
            image: torch.Tensor) -> tuple[Any, ...]:
        if not isinstance(upscale_model, UpscaleModel):
            raise TypeError(f"ImageUpscaleWithModel input 'upscale_model': expected an "
                            f"UPSCALE_MODEL, got {type(upscale_model).__name__}")
        if image.dim() != 4:
            raise ValueError(f"ImageUpscaleWithModel input 'image': expected (B, H, W, C), "
                             f"got {tuple(image.shape)}")

        def on_oom(next_tile: int) -> None:
            released = ctx.models.unload_all()
            ctx.log.warning("ImageUpscaleWithModel: out of memory; released %d idle models, "
                            "retrying with %d-pixel tiles", released, next_tile)

        upscaled = upscale_pixels(upscale_model, image, ctx.models.device,
                                  on_tile=lambda done, total: ctx.progress(done, total),
                                  on_oom=on_oom)
        return (upscaled,)


UPSCALE_NODES: list[type[Node]] = [UpscaleModelLoader, ImageUpscaleWithModel]
UPSCALE_MODULE = "comfy_extras.nodes_upscale_model"
