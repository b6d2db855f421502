"""Upscale models (ESRGAN, SwinIR, … through spandrel's core architectures): safe loading,
ComfyUI's tiled application, and a torchvision stand-in for where torchvision is unusable."""

from __future__ import annotations

from diffusion.upscale.apply import upscale_pixels
from diffusion.upscale.loading import UpscaleModelError, load_upscale_model
from diffusion.upscale.model import UpscaleModel
from diffusion.upscale.tiling import UpscaleOutOfMemoryError, tiled_scale

__all__ = ["UpscaleModel", "UpscaleModelError", "UpscaleOutOfMemoryError", "load_upscale_model",
           "tiled_scale", "upscale_pixels"]
