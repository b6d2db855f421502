"""HyperTile (tfernd/HyperTile) as ComfyUI's ``HyperTile`` node applies it: self-attention over
tiles of the image.

At self-attention layers whose token count is the latent's ``H * W / 4**i`` (i up to
``max_depth``), the N query tokens, read as an h x w grid (``h = round(sqrt(N * W / H))``, ``w =
round(sqrt(N * H / W))``, ComfyUI's reading), are cut into nh x nw tiles, each attended to
separately. nh (and nw) is ``h // d`` for one of the ``swap_size`` smallest divisors d of h that
are at least the tile size in latent cells (``max(32, tile_size) // 8``, times ``2**i`` with
``scale_depth``), drawn at random (as ComfyUI draws, the largest of those options is never
picked, so ``swap_size`` 2 always takes the smallest).

Keys and values are not tiled: as in ComfyUI (which passes them untiled to an attention kernel
that views them at the tiled query batch), tile k of a sample attends to the k-th contiguous
run of N / (nh * nw) tokens of that sample.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance.hooks import ModelHooks
from diffusion.guidance.run_state import RunState
from diffusion.unet.attention import AttentionInfo, Restore

MIN_TILE = 32  # pixels
LATENT_SCALE = 8


def random_divisor(value: int, min_value: int, max_options: int, generator: torch.Generator
                   ) -> int:
    """``value // d`` for a divisor d >= ``min(min_value, value)`` of ``value``, one of the
    ``max_options`` smallest, drawn as ComfyUI's ``random_divisor`` draws."""
    min_value = min(min_value, value)
    divisors = [i for i in range(min_value, value + 1) if value % i == 0]
    options = [value // i for i in divisors[:max_options]]
    index = 0
    if len(options) > 1:
        index = int(torch.randint(0, len(options) - 1, (1,), generator=generator).item())
    return options[index]


def tile(x: Tensor, nh: int, nw: int, h: int, w: int) -> Tensor:
    """(B, h*w, C) read as an h x w grid -> (B*nh*nw, (h/nh)*(w/nw), C), tile-major."""
    b, _, c = x.shape
    grid = x.reshape(b, nh, h // nh, nw, w // nw, c)
    return grid.permute(0, 1, 3, 2, 4, 5).reshape(b * nh * nw, -1, c)


def untile(x: Tensor, nh: int, nw: int, h: int, w: int) -> Tensor:
    """The inverse of :func:`tile`."""
    c = x.shape[-1]
    grid = x.reshape(-1, nh, nw, h // nh, w // nw, c)
    return grid.permute(0, 1, 3, 2, 4, 5).reshape(grid.shape[0], h * w, c)


@dataclass(frozen=True)
class HyperTile:
    """The attention token patch (random draws from the run's generator once bound)."""

    tile_size: int = 256
    swap_size: int = 2
    max_depth: int = 0
    scale_depth: bool = False
    run: RunState | None = dataclasses.field(default=None, compare=False, repr=False)

    def bind_run(self, run: RunState) -> HyperTile:
        return dataclasses.replace(self, run=run)

    def _depth(self, tokens: int, original_shape: tuple[int, ...]) -> int | None:
        height, width = original_shape[-2], original_shape[-1]
        sizes = [(height / 2**i) * (width / 2**i) for i in range(self.max_depth + 1)]
        return sizes.index(tokens) if tokens in sizes else None

    def split_tokens(self, x: Tensor, context_k: Tensor, context_v: Tensor, info: AttentionInfo
                     ) -> tuple[Tensor, Tensor, Tensor, Restore] | None:
        if info.kind != "self" or len(info.original_shape) < 2:
            return None
        tokens = x.shape[1]
        depth = self._depth(tokens, info.original_shape)
        if depth is None:
            return None
        aspect = info.original_shape[-1] / info.original_shape[-2]
        h, w = round(math.sqrt(tokens * aspect)), round(math.sqrt(tokens / aspect))
        if h * w != tokens:
            raise ValueError(f"HyperTile: {tokens} tokens do not form a {h}x{w} grid "
                             f"(latent {tuple(info.original_shape[-2:])})")
        size = max(MIN_TILE, self.tile_size) // LATENT_SCALE * (2**depth if self.scale_depth else 1)
        generator = (self.run or RunState()).generator("cpu")
        nh = random_divisor(h, size, self.swap_size, generator)
        nw = random_divisor(w, size, self.swap_size, generator)
        if nh * nw <= 1:
            return None
        chunks = nh * nw

        def restore(out: Tensor) -> Tensor:
            return untile(out, nh, nw, h, w)  # (B, N, C)

        return (tile(x, nh, nw, h, w),
                context_k.reshape(context_k.shape[0] * chunks, -1, context_k.shape[-1]),
                context_v.reshape(context_v.shape[0] * chunks, -1, context_v.shape[-1]),
                restore)

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(attention_inputs=(self,))


__all__ = ["HyperTile", "random_divisor", "tile", "untile"]
