"""ComfyUI's tiled scaling (``comfy.utils.tiled_scale``) and the tile-size fallback of its
ImageUpscaleWithModel.

Per image of the batch: if the whole image fits in one tile, the model runs once on it (tiled ≡
untiled). Otherwise tiles of ``tile`` input pixels start every ``tile - overlap`` pixels along
each axis (``range(0, size - overlap, tile - overlap)``; the last tile is shorter, never shifted
back), each is upscaled alone, and the results are averaged with weights that ramp over
``round(overlap * scale)`` output pixels at every tile edge: the t-th pixel from an edge weighs
``(t + 1) / feather`` (no ramp when the tile is not longer than the ramp).

On running out of memory the tile is halved and the whole batch restarted (512 → 256 → 128; a
failure at 128 is raised), as ComfyUI does with its ``tile //= 2; if tile < 128: raise``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

TILE = 512
OVERLAP = 32
MIN_TILE = 128
OOM_ERRORS: tuple[type[BaseException], ...] = (torch.OutOfMemoryError, MemoryError)

TileCallback = Callable[[int, int], None]  # (tiles done, tiles in all)


class UpscaleOutOfMemoryError(MemoryError):
    """Even the smallest tile did not fit in memory."""


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile offsets along one axis (ComfyUI's positions)."""
    if size <= tile:
        return [0]
    return list(range(0, size - overlap, tile - overlap))


def tile_count(height: int, width: int, tile: int, overlap: int) -> int:
    """Tiles per image (ComfyUI's ``get_tiled_scale_steps``)."""
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


def edge_weights(length: int, feather: int, device: torch.device) -> Tensor:
    """1-D blend weights of a tile side: both ends ramp (t + 1) / feather, skipped when the side
    is not longer than the ramp."""
    weights = torch.ones(length, device=device)
    if feather >= length or feather <= 0:
        return weights
    ramp = torch.arange(1, feather + 1, device=device, dtype=weights.dtype) / feather
    weights[:feather] *= ramp
    weights[length - feather:] *= ramp.flip(0)
    return weights


def _blend_image(image: Tensor, fn: Callable[[Tensor], Tensor], tile: int, overlap: int,
                 scale: float, out_shape: tuple[int, ...], step: Callable[[], None],
                 out_device: torch.device) -> Tensor:
    """One (1, C, H, W) image, tiled; returns (1, C', H·s, W·s) on ``out_device``."""
    height, width = image.shape[-2:]
    out = torch.zeros(out_shape, device=out_device)
    weight = torch.zeros((1, 1, *out_shape[-2:]), device=out_device)
    feather = round(overlap * scale)
    for top, left in itertools.product(tile_starts(height, tile, overlap),
                                       tile_starts(width, tile, overlap)):
        piece = image[..., top:top + tile, left:left + tile]  # (1, C, <=tile, <=tile)
        result = fn(piece).to(out_device, torch.float32)  # (1, C', h·s, w·s)
        th, tw = result.shape[-2:]
        mask = (edge_weights(th, feather, out_device)[:, None]
                * edge_weights(tw, feather, out_device)[None, :])  # (h·s, w·s)
        oy, ox = round(top * scale), round(left * scale)
        out[..., oy:oy + th, ox:ox + tw] += result * mask
        weight[..., oy:oy + th, ox:ox + tw] += mask
        step()
    return out / weight


@torch.inference_mode()
def tiled_scale(x: Tensor, fn: Callable[[Tensor], Tensor], *, tile: int, overlap: int,
                scale: float, out_channels: int, out_device: torch.device | None = None,
                on_tile: TileCallback | None = None) -> Tensor:
    """``fn`` maps (1, C, h, w) to (1, out_channels, h·scale, w·scale); applies it to every
    image of ``x`` (B, C, H, W) in tiles. Returns (B, out_channels, H·scale, W·scale)."""
    if tile <= overlap or overlap < 0:
        raise ValueError(f"tile {tile} must exceed overlap {overlap} >= 0")
    device = out_device or torch.device("cpu")
    batch, _, height, width = x.shape
    out_hw = (round(height * scale), round(width * scale))
    output = torch.empty((batch, out_channels, *out_hw), device=device)
    total, done = batch * tile_count(height, width, tile, overlap), 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_tile is not None:
            on_tile(done, total)

    for b in range(batch):
        image = x[b:b + 1]  # (1, C, H, W)
        if height <= tile and width <= tile:
            output[b:b + 1] = fn(image).to(device, torch.float32)
            step()
        else:
            output[b:b + 1] = _blend_image(image, fn, tile, overlap, scale,
                                           (1, out_channels, *out_hw), step, device)
    return output


def tiled_scale_with_fallback(x: Tensor, fn: Callable[[Tensor], Tensor], *, scale: float,
                              out_channels: int, tile: int = TILE, overlap: int = OVERLAP,
                              min_tile: int = MIN_TILE, out_device: torch.device | None = None,
                              on_tile: TileCallback | None = None,
                              on_oom: Callable[[int], None] | None = None) -> Tensor:
    """:func:`tiled_scale`, halving the tile after each out-of-memory error down to
    ``min_tile``; ``on_oom(next_tile)`` runs before each retry (to free memory, log …)."""
    while True:
        try:
            return tiled_scale(x, fn, tile=tile, overlap=overlap, scale=scale,
                               out_channels=out_channels, out_device=out_device,
                               on_tile=on_tile)
        except OOM_ERRORS as exc:
            smaller = tile // 2
            if smaller < min_tile:
                raise UpscaleOutOfMemoryError(
                    f"out of memory upscaling {tuple(x.shape)} even with {tile}-pixel tiles "
                    f"(the smallest tried; overlap {overlap}): {exc}") from exc
            logger.warning("out of memory with %d-pixel tiles; retrying with %d", tile, smaller)
            tile = smaller
            if on_oom is not None:
                on_oom(tile)
