"""Token merging for Stable Diffusion (Bolya & Hoffman 2023, "Token Merging for Fast Stable
Diffusion", arXiv:2303.17604), as ComfyUI's ``TomePatchModel`` applies it.

At the self-attention layers of the full-resolution level, the queries' tokens are split into
destination tokens (one drawn at random in every 2x2 cell of the grid) and source tokens; the
``int(N * ratio)`` sources most similar (cosine similarity of the normed hidden states) to
their best destination are merged into it (mean), the query attends from the remaining
tokens, and afterwards each merged source takes its destination's output back (unmerge).
Keys and values keep every token. Random draws come from the run's generator.
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

STRIDE = 2  # one destination token per STRIDE x STRIDE cell


def _partition(h: int, w: int, generator: torch.Generator, device: torch.device
               ) -> tuple[Tensor, int]:
    """(1, h*w, 1) token indices, destinations first, and the number of destinations."""
    rows, cols = h // STRIDE, w // STRIDE
    pick = torch.randint(STRIDE * STRIDE, size=(rows, cols, 1), device=device,
                         generator=generator)
    cells = torch.zeros(rows, cols, STRIDE * STRIDE, device=device, dtype=torch.int64)
    cells.scatter_(dim=2, index=pick, src=-torch.ones_like(pick))  # -1 marks a destination
    grid = cells.view(rows, cols, STRIDE, STRIDE).transpose(1, 2)
    grid = grid.reshape(rows * STRIDE, cols * STRIDE)  # (h', w')
    if grid.shape != (h, w):
        full = torch.zeros(h, w, device=device, dtype=torch.int64)
        full[:rows * STRIDE, :cols * STRIDE] = grid
        grid = full
    return grid.reshape(1, -1, 1).argsort(dim=1), rows * cols


@dataclass(frozen=True, eq=False)
class Matching:
    """A bipartite matching of one call's tokens: merge and unmerge."""

    batch: int
    tokens: int
    src_all: Tensor  # (1, N - D, 1) token index of each source
    dst_all: Tensor  # (1, D, 1) token index of each destination
    unmerged: Tensor  # (B, N - D - r, 1) sources kept as they are
    merged: Tensor  # (B, r, 1) sources merged ...
    targets: Tensor  # (B, r, 1) ... into these destinations

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, _, c = x.shape
        src = torch.gather(x, 1, self.src_all.expand(b, self.src_all.shape[1], c))
        dst = torch.gather(x, 1, self.dst_all.expand(b, self.dst_all.shape[1], c))
        return src, dst

    def merge(self, x: Tensor) -> Tensor:
        """(B, N, C) -> (B, N - r, C): kept sources, then destinations averaged with theirs."""
        src, dst = self.split(x)
        n, _, c = src.shape
        r = self.merged.shape[1]
        kept = torch.gather(src, -2, self.unmerged.expand(n, self.unmerged.shape[1], c))
        moving = torch.gather(src, -2, self.merged.expand(n, r, c))
        dst = dst.scatter_reduce(-2, self.targets.expand(n, r, c), moving, reduce="mean")
        return torch.cat([kept, dst], dim=1)

    def unmerge(self, x: Tensor) -> Tensor:
        """(B, N - r, C) -> (B, N, C): each merged source gets its destination's row."""
        kept_len, c = self.unmerged.shape[1], x.shape[-1]
        kept, dst = x[..., :kept_len, :], x[..., kept_len:, :]
        b, r = self.batch, self.merged.shape[1]
        src = torch.gather(dst, -2, self.targets.expand(b, r, c))
        out = torch.zeros(b, self.tokens, c, device=x.device, dtype=x.dtype)
        src_index = self.src_all.expand(b, self.src_all.shape[1], 1)
        out.scatter_(-2, self.dst_all.expand(b, self.dst_all.shape[1], c), dst)
        out.scatter_(-2, torch.gather(src_index, 1, self.unmerged).expand(b, kept_len, c), kept)
        out.scatter_(-2, torch.gather(src_index, 1, self.merged).expand(b, r, c), src)
        return out


def bipartite_matching(metric: Tensor, w: int, h: int, r: int, generator: torch.Generator
                       ) -> Matching | None:
    """ToMe's ``bipartite_soft_matching_random2d`` on metric (B, N, C) over an h x w grid;
    None when nothing is merged (r <= 0 or a grid side of 1)."""
    b, n, _ = metric.shape
    if r <= 0 or w == 1 or h == 1:
        return None
    with torch.no_grad():
        order, destinations = _partition(h, w, generator, metric.device)
        src_all, dst_all = order[:, destinations:, :], order[:, :destinations, :]
        unit = metric / metric.norm(dim=-1, keepdim=True)
        probe = Matching(b, n, src_all, dst_all, src_all[:, :0], src_all[:, :0], src_all[:, :0])
        a, d = probe.split(unit)
        scores = a @ d.transpose(-1, -2)  # (B, N - D, D)
        r = min(a.shape[1], r)
        best, best_dst = scores.max(dim=-1)
        ranked = best.argsort(dim=-1, descending=True)[..., None]  # (B, N - D, 1)
        merged = ranked[..., :r, :]
        targets = torch.gather(best_dst[..., None], -2, merged)
    return Matching(b, n, src_all, dst_all, ranked[..., r:, :], merged, targets)


@dataclass(frozen=True)
class TokenMerging:
    """The attention token patch: merges ``ratio`` of the tokens at full resolution."""

    ratio: float
    run: RunState | None = dataclasses.field(default=None, compare=False, repr=False)

    def bind_run(self, run: RunState) -> TokenMerging:
        return dataclasses.replace(self, run=run)

    def split_tokens(self, x: Tensor, context_k: Tensor, context_v: Tensor, info: AttentionInfo
                     ) -> tuple[Tensor, Tensor, Tensor, Restore] | None:
        if info.kind != "self" or len(info.original_shape) < 2:
            return None
        height, width = info.original_shape[-2], info.original_shape[-1]
        tokens = x.shape[1]
        downsample = math.ceil(math.sqrt((height * width) // tokens))
        if downsample > 1:
            return None
        generator = (self.run or RunState()).generator(x.device)
        matching = bipartite_matching(x, math.ceil(width / downsample),
                                      math.ceil(height / downsample), int(tokens * self.ratio),
                                      generator)
        if matching is None:
            return None
        return matching.merge(x), context_k, context_v, matching.unmerge

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(attention_inputs=(self,))


__all__ = ["Matching", "TokenMerging", "bipartite_matching"]
