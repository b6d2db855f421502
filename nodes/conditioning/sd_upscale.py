"""SD_4XUpscale_Conditioning (ComfyUI's ``comfy_extras/nodes_sdupscale.py``): the SD x4
upscaler's low-resolution image on both conditionings, and the empty latent it samples."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.cond import Conditioning, replace_all
from diffusion.guidance.shapes import upscale_center
from nodes.api import CONDITIONING, IMAGE, LATENT, Float, Link, Node, Output, RunContext
from nodes.payloads import Latent

X4_LATENT_DOWNSCALE = 4  # the x4 upscaler's VAE: pixels per latent sample


class SD_4XUpscale_Conditioning(Node):  # noqa: N801 (ComfyUI's class name)
    """Prepares the SD x4 upscaler: the images (RGB; an alpha channel is dropped), as pixels in
    [-1, 1] resized to the output latent's grid, ride on every positive and negative entry with
    the noise augmentation; the latent is zeros of the output size / 4. The output size is the
    images' size times scale_ratio; the upscaler's VAE decodes it 4x."""

    category = "conditioning/upscale_diffusion"
    inputs = (
        Link("images", IMAGE, tooltip="The low-resolution images to upscale."),
        Link("positive", CONDITIONING, tooltip="The positive prompt for the upscaler."),
        Link("negative", CONDITIONING, tooltip="The negative prompt for the upscaler."),
        Float("scale_ratio", default=4.0, min=0.0, max=10.0, step=0.01,
              tooltip="Output size over input size."),
        Float("noise_augmentation", default=0.0, min=0.0, max=1.0, step=0.001,
              tooltip="How much the low-resolution image is noised before the model sees it "
                      "(noise level = 350 x this), drawn from the sampler's seed."),
    )
    outputs = (Output(CONDITIONING, name="positive"), Output(CONDITIONING, name="negative"),
               Output(LATENT, name="latent"))

    def run(self, ctx: RunContext, images: Tensor, positive: Conditioning,
            negative: Conditioning, scale_ratio: float,
            noise_augmentation: float) -> tuple[Any, ...]:
        if images.ndim != 4 or images.shape[-1] < 3:
            raise ValueError(f"SD_4XUpscale_Conditioning input 'images': expected (B, H, W, C) "
                             f"with C >= 3, got {tuple(images.shape)}")
        width = max(1, round(images.shape[-2] * scale_ratio))
        height = max(1, round(images.shape[-3] * scale_ratio))
        h, w = height // X4_LATENT_DOWNSCALE, width // X4_LATENT_DOWNSCALE
        if h < 1 or w < 1:
            raise ValueError(
                f"SD_4XUpscale_Conditioning: images {tuple(images.shape[1:3])} x scale_ratio "
                f"{scale_ratio} give {height}x{width} pixels, under one 4x4 latent sample")
        rgb = images[..., :3].movedim(-1, 1).float() * 2.0 - 1.0  # (B, 3, H, W) in [-1, 1]
        pixels = upscale_center(rgb, h, w)  # (B, 3, h, w)
        change = {"concat_image": pixels, "noise_augmentation": noise_augmentation}
        latent = Latent(torch.zeros((images.shape[0], 4, h, w)))
        return replace_all(positive, **change), replace_all(negative, **change), latent


UPSCALE_DIFFUSION_NODES: list[type[Node]] = [SD_4XUpscale_Conditioning]
UPSCALE_DIFFUSION_MODULE = "comfy_extras.nodes_sdupscale"
