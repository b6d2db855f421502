"""IP-Adapter image projection models in the original key layout (``image_proj.*``).

* ``ImageProjModel`` (base adapters, ViT-G variants): a linear map of the CLIP image embedding
  to ``tokens`` context tokens, then LayerNorm.
* ``MLPProjModel`` (full-face): Linear, GELU, Linear, LayerNorm on every penultimate hidden
  state (257 tokens).
* ``Resampler`` (plus, plus-face): a perceiver with ``num_queries`` learned latents attending to
  the projected penultimate hidden states (keys and values from image tokens and latents).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

RESAMPLER_HEAD_WIDTH = 64


class ImageProjModel(nn.Module):
    def __init__(self, clip_dim: int, cross_dim: int, tokens: int) -> None:
        super().__init__()
        self.tokens, self.cross_dim = tokens, cross_dim
        self.proj = nn.Linear(clip_dim, tokens * cross_dim)
        self.norm = nn.LayerNorm(cross_dim)

    def forward(self, embeds: Tensor) -> Tensor:
        """(n, clip_dim) image embeddings -> (n, tokens, cross_dim)."""
        return self.norm(self.proj(embeds).reshape(-1, self.tokens, self.cross_dim))


class MLPProjModel(nn.Module):
    def __init__(self, clip_dim: int, cross_dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(clip_dim, clip_dim), nn.GELU(),
                                  nn.Linear(clip_dim, cross_dim), nn.LayerNorm(cross_dim))

    def forward(self, hidden: Tensor) -> Tensor:
        """(n, P, clip_dim) hidden states -> (n, P, cross_dim)."""
        return self.proj(hidden)


class _PerceiverAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        inner = heads * RESAMPLER_HEAD_WIDTH
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def _heads(self, t: Tensor) -> Tensor:
        return t.reshape(t.shape[0], t.shape[1], self.heads, -1).transpose(1, 2)  # (b, h, n, d)

    def forward(self, x: Tensor, latents: Tensor) -> Tensor:
        x, latents = self.norm1(x), self.norm2(latents)
        q = self._heads(self.to_q(latents))  # (b, h, L, d)
        k, v = (self._heads(t) for t in self.to_kv(torch.cat([x, latents], 1)).chunk(2, -1))
        scale = 1 / math.sqrt(math.sqrt(RESAMPLER_HEAD_WIDTH))  # as the original: stable in fp16
        weight = (q * scale) @ (k * scale).transpose(-2, -1)  # (b, h, L, n + L)
        out = torch.softmax(weight.float(), dim=-1).to(weight.dtype) @ v  # (b, h, L, d)
        return self.to_out(out.transpose(1, 2).reshape(latents.shape[0], latents.shape[1], -1))


def _feed_forward(dim: int, mult: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(),
                         nn.Linear(dim * mult, dim, bias=False))


class Resampler(nn.Module):
    def __init__(self, *, dim: int, depth: int, heads: int, num_queries: int,
                 embedding_dim: int, output_dim: int, ff_mult: int = 4) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(1, num_queries, dim) / dim**0.5)
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([_PerceiverAttention(dim, heads), _feed_forward(dim, ff_mult)])
            for _ in range(depth))

    def forward(self, hidden: Tensor) -> Tensor:
        """(n, P, embedding_dim) hidden states -> (n, num_queries, output_dim)."""
        latents = self.latents.repeat(hidden.shape[0], 1, 1)  # (n, Q, dim)
        x = self.proj_in(hidden)  # (n, P, dim)
        for attention, feed_forward in self.layers:  # type: ignore[misc]
            latents = attention(x, latents) + latents
            latents = feed_forward(latents) + latents
        return self.norm_out(self.proj_out(latents))
