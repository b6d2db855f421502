"""Pixels to latents and back through a VAE payload (the ModelManager makes it resident).

IMAGE is (B, H, W, C) in [0, 1]; the autoencoder works on (B, 3, H, W) in [-1, 1]. Encoding
crops the image to multiples of the VAE's downscale, centred, and drops an alpha channel, as
ComfyUI does; decoding clamps to [0, 1]. Latents and images are returned on the CPU (ComfyUI's
intermediate device), float32.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from diffusion.vae import AutoencoderKL, decode_tiled, encode_tiled
from diffusion.weight_cast import compute_dtype_of
from nodes.payloads import Vae


def crop_to_multiple(pixels: Tensor, multiple: int = 8) -> Tensor:
    """The centred part of an IMAGE (B, H, W, C) whose sides are multiples of ``multiple``."""
    height, width = pixels.shape[1], pixels.shape[2]
    h, w = height // multiple * multiple, width // multiple * multiple
    if (h, w) == (height, width):
        return pixels
    top, left = (height % multiple) // 2, (width % multiple) // 2
    return pixels[:, top:top + h, left:left + w, :]  # (B, h, w, C)


def _check_image(pixels: Tensor, what: str, multiple: int) -> None:
    if pixels.ndim != 4:
        raise ValueError(f"{what}: expected an IMAGE (B, H, W, C), got {tuple(pixels.shape)}")
    if pixels.shape[1] < multiple or pixels.shape[2] < multiple:
        raise ValueError(f"{what}: image {pixels.shape[2]}x{pixels.shape[1]} is smaller than "
                         f"one latent sample ({multiple} pixels)")


def _run(vae: Vae, x: Tensor, fn: Callable[[AutoencoderKL, Tensor], Tensor]) -> Tensor:
    with vae.handle.use() as module, torch.no_grad():
        assert isinstance(module, AutoencoderKL)
        weight = next(module.parameters())
        return fn(module, x.to(weight.device, compute_dtype_of(module))).float().cpu()


def encode_pixels(vae: Vae, pixels: Tensor, what: str, *,
                  tile: int | None = None, overlap: int = 0) -> Tensor:
    """Raw latents (B, 4, H/8, W/8) of an IMAGE; ``tile`` (pixels) encodes tile by tile."""
    _check_image(pixels, what, vae.downscale)
    rgb = crop_to_multiple(pixels, vae.downscale)[..., :3]
    x = rgb.movedim(-1, 1) * 2.0 - 1.0  # (B, 3, H, W) in [-1, 1]
    if tile is None:
        return _run(vae, x, lambda ae, t: ae.encode(t))
    return _run(vae, x, lambda ae, t: encode_tiled(ae, t, tile=tile, overlap=overlap))


def decode_latents(vae: Vae, latents: Tensor, what: str, *,
                   tile: int | None = None, overlap: int = 0) -> Tensor:
    """An IMAGE (B, 8h, 8w, 3) in [0, 1]; ``tile`` (latent samples) decodes tile by tile."""
    if latents.ndim != 4:
        raise ValueError(f"{what}: expected latents (B, C, h, w), got {tuple(latents.shape)}")
    if tile is None:
        x = _run(vae, latents, lambda ae, t: ae.decode(t))
    else:
        x = _run(vae, latents, lambda ae, t: decode_tiled(ae, t, tile=tile, overlap=overlap))
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0).movedim(1, -1)  # (B, H, W, 3)
