"""VAE nodes: VAEDecode, VAEEncode, VAEEncodeForInpaint, VAEEncodeTiled, VAEDecodeTiled."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from nodes import memory_estimates as estimates
from nodes.api import (
    IMAGE,
    LATENT,
    MASK,
    VAE,
    FingerprintContext,
    Int,
    Link,
    MemoryEstimate,
    Node,
    Output,
    RunContext,
    TensorSpec,
)
from nodes.payloads import Latent, Vae
from nodes.vae.codec import crop_to_multiple, decode_latents, encode_pixels

_TEMPORAL_SIZE_TIP = "Only used for video VAEs: Amount of frames to {} at a time."
_TEMPORAL_OVERLAP_TIP = "Only used for video VAEs: Amount of frames to overlap."


def _vae(tooltip: str) -> Link:
    return Link("vae", VAE, tooltip=tooltip)


def _tiling_inputs(verb: str, tile_step: int) -> tuple[Int, ...]:
    return (
        Int("tile_size", default=512, min=64, max=4096, step=tile_step,
            tooltip="Tile side in pixels."),
        Int("overlap", default=64, min=0, max=4096, step=32,
            tooltip="Overlap of neighbouring tiles in pixels (blended)."),
        Int("temporal_size", default=64, min=8, max=4096, step=4,
            tooltip=_TEMPORAL_SIZE_TIP.format(verb)),
        Int("temporal_overlap", default=8, min=4, max=4096, step=4,
            tooltip=_TEMPORAL_OVERLAP_TIP),
    )


class VAEDecode(Node):
    """Decodes latent images back into pixel space images."""

    display_name = "VAE Decode"
    category = "latent"
    inputs = (Link("samples", LATENT, tooltip="The latent to be decoded."),
              _vae("The VAE model used for decoding the latent."))
    outputs = (Output(IMAGE, tooltip="The decoded image."),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, samples: TensorSpec | None,
                        **_: Any) -> MemoryEstimate | None:
        return estimates.vae_decode(samples)

    def run(self, ctx: RunContext, samples: Latent, vae: Vae) -> tuple[Any, ...]:
        return (decode_latents(vae, samples.samples, "VAEDecode input 'samples'"),)


class VAEEncode(Node):
    """Encodes images to latents (cropped to multiples of 8, centred; alpha dropped)."""

    display_name = "VAE Encode"
    category = "latent"
    inputs = (Link("pixels", IMAGE, tooltip="The images to encode."),
              _vae("The VAE model used for encoding."))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, pixels: Tensor, vae: Vae) -> tuple[Any, ...]:
        return (Latent(encode_pixels(vae, pixels, "VAEEncode input 'pixels'")),)


class VAEDecodeTiled(Node):
    """Decodes latents tile by tile: peak memory follows the tile size, not the image."""

    display_name = "VAE Decode (Tiled)"
    category = "_for_testing"
    inputs = (Link("samples", LATENT, tooltip="The latent to be decoded."),
              _vae("The VAE model used for decoding."), *_tiling_inputs("decode", 32))
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, samples: Latent, vae: Vae, tile_size: int, overlap: int,
            temporal_size: int, temporal_overlap: int) -> tuple[Any, ...]:
        if tile_size < overlap * 4:
            overlap = tile_size // 4
        f = vae.downscale
        images = decode_latents(vae, samples.samples, "VAEDecodeTiled input 'samples'",
                                tile=max(1, tile_size // f), overlap=overlap // f)
        return (images,)


class VAEEncodeTiled(Node):
    """Encodes images tile by tile: peak memory follows the tile size, not the image."""

    display_name = "VAE Encode (Tiled)"
    category = "_for_testing"
    inputs = (Link("pixels", IMAGE, tooltip="The images to encode."),
              _vae("The VAE model used for encoding."), *_tiling_inputs("encode", 64))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, pixels: Tensor, vae: Vae, tile_size: int, overlap: int,
            temporal_size: int, temporal_overlap: int) -> tuple[Any, ...]:
        f = vae.downscale
        tile = max(f, tile_size // f * f)  # tile borders on whole latent samples
        overlap = min(overlap // f * f, tile - f)
        latents = encode_pixels(vae, pixels, "VAEEncodeTiled input 'pixels'",
                                tile=tile, overlap=overlap)
        return (Latent(latents),)


def grow_mask(mask: Tensor, grow_by: int) -> Tensor:
    """ComfyUI's mask growth: a grow_by × grow_by box filter over the rounded mask, clamped
    to [0, 1]. (B, 1, H, W) → (B, 1, H + (1 if grow_by is even), …): callers crop."""
    if grow_by == 0:
        return mask
    kernel = torch.ones((1, 1, grow_by, grow_by), dtype=mask.dtype)
    padding = math.ceil((grow_by - 1) / 2)
    return F.conv2d(mask.round(), kernel, padding=padding).clamp(0.0, 1.0)


class VAEEncodeForInpaint(Node):
    """Encodes images for inpainting: pixels under the mask become grey (0.5) and the latent
    gets the mask, grown by a few pixels, as its noise mask."""

    display_name = "VAE Encode (for Inpainting)"
    category = "latent/inpaint"
    inputs = (
        Link("pixels", IMAGE, tooltip="The images to inpaint."),
        _vae("The VAE model used for encoding."),
        Link("mask", MASK, tooltip="1 where the image is repainted."),
        Int("grow_mask_by", default=6, min=0, max=64, step=1,
            tooltip="Pixels the noise mask is grown by, for seamless edges."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, pixels: Tensor, vae: Vae, mask: Tensor,
            grow_mask_by: int) -> tuple[Any, ...]:
        height, width = pixels.shape[1], pixels.shape[2]
        f = vae.downscale
        h, w = height // f * f, width // f * f
        masks = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).float()
        masks = F.interpolate(masks, size=(height, width), mode="bilinear")  # (B, 1, H, W)
        top, left = (height % f) // 2, (width % f) // 2
        masks = masks[:, :, top:top + h, left:left + w]  # (B, 1, h, w)
        cropped = crop_to_multiple(pixels, f)[..., :3]  # (B, h, w, 3)
        keep = (1.0 - masks.round()).squeeze(1)[..., None]  # (B, h, w, 1)
        grey = (cropped - 0.5) * keep + 0.5
        latents = encode_pixels(vae, grey, "VAEEncodeForInpaint input 'pixels'")
        noise_mask = grow_mask(masks, grow_mask_by)[:, :, :h, :w].round()
        return (Latent(latents, noise_mask),)


VAE_NODES = [VAEDecode, VAEEncode, VAEEncodeForInpaint, VAEEncodeTiled, VAEDecodeTiled]
