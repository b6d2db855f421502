"""Tiled VAE encode/decode: peak activation memory bounded by the tile size, not the image size.

The input is cut into overlapping tiles; each tile is processed alone and written into the output
with a weight that ramps linearly across the overlap, so seams are blended. When one tile covers
the whole input the result is exactly the untiled one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from diffusion.vae.model import AutoencoderKL


def _starts(size: int, tile: int, overlap: int, align: int) -> list[int]:
    """Tile offsets along one axis, multiples of ``align``, the last tile ending at ``size``."""
    if tile >= size:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted({s - s % align for s in starts})


def _ramp(length: int, left: int, right: int, device: torch.device) -> Tensor:
    """1-D blend weight: rises over ``left`` samples, falls over ``right`` samples, 1 elsewhere."""
    w = torch.ones(length, device=device)
    if left:
        w[:left] = torch.arange(1, left + 1, device=device) / (left + 1)
    if right:
        w[length - right :] = torch.arange(right, 0, -1, device=device) / (right + 1)
    return w


def tiled_apply(
    x: Tensor,
    fn: Callable[[Tensor], Tensor],
    *,
    tile: int,
    overlap: int,
    scale: float,
    align: int = 1,
) -> Tensor:
    """Applies ``fn`` (which maps (B, C, h, w) to (B, C', h*scale, w*scale)) tile by tile.

    ``tile`` and ``overlap`` are in input samples; offsets are multiples of ``align`` so that
    tile borders land on whole output samples.
    """
    if tile <= overlap or overlap < 0:
        raise ValueError(f"tile={tile} must exceed overlap={overlap} >= 0")
    _, _, height, width = x.shape
    rows, cols = _starts(height, tile, overlap, align), _starts(width, tile, overlap, align)
    out: Tensor | None = None
    weight: Tensor | None = None
    for top in rows:
        for left in cols:
            piece = x[:, :, top : top + tile, left : left + tile]  # (B, C, <=tile, <=tile)
            y = fn(piece)  # (B, C', h*scale, w*scale)
            if out is None:
                out_hw = (round(height * scale), round(width * scale))
                out = torch.zeros(*y.shape[:2], *out_hw, dtype=y.dtype, device=y.device)
                weight = torch.zeros(out_hw, dtype=y.dtype, device=y.device)
            assert weight is not None
            oy, ox = round(top * scale), round(left * scale)
            th, tw = y.shape[-2:]
            ov = round(overlap * scale)
            wy = _ramp(th, ov if top else 0, ov if top + tile < height else 0, y.device)
            wx = _ramp(tw, ov if left else 0, ov if left + tile < width else 0, y.device)
            mask = (wy[:, None] * wx[None, :]).to(y.dtype)  # (th, tw)
            out[:, :, oy : oy + th, ox : ox + tw] += y * mask
            weight[oy : oy + th, ox : ox + tw] += mask
    assert out is not None and weight is not None
    return out / weight


def decode_tiled(
    vae: AutoencoderKL, latents: Tensor, *, tile: int = 64, overlap: int = 8
) -> Tensor:
    """Decodes (B, 4, h, w) latents in ``tile`` x ``tile`` latent tiles; returns (B, 3, 8h, 8w)."""
    return tiled_apply(latents, vae.decode, tile=tile, overlap=overlap, scale=vae.config.downscale)


def encode_tiled(
    vae: AutoencoderKL,
    pixels: Tensor,
    *,
    tile: int = 512,
    overlap: int = 64,
) -> Tensor:
    """Encodes (B, 3, H, W) pixels (H, W multiples of 8) to posterior-mean latents tile by tile."""
    f = vae.config.downscale
    height, width = pixels.shape[-2:]
    if height % f or width % f or tile % f or overlap % f:
        raise ValueError(
            f"pixels {height}x{width}, tile={tile} and overlap={overlap} "
            f"must all be multiples of {f}"
        )
    return tiled_apply(pixels, vae.encode, tile=tile, overlap=overlap, scale=1 / f, align=f)
