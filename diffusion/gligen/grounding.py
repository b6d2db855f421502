"""GLIGEN boxes on a conditioning entry, and the UNet middle patch they become per forward.

``GligenPosition`` is ComfyUI's ``("position", model, [(pooled, h, w, y, x), ...])`` under the
entry's ``gligen`` key (``diffusion.guidance.cond.Grounding``). For each forward over the entry's
latent rows (B, C, h, w) (after its area crop) the boxes become fractions of that latent,
``(x1, y1, x2, y2) = (x / w, y / h, (x + width) / w, (y + height) / h)``, padded to 30 slots
(mask 0, zero box, zero embedding); the position net turns them into grounding tokens (on the
CPU, in float32, once per forward) and every transformer block's fuser (GLIGEN's gated
self-attention, matched by UNet block id and transformer index) runs between its self- and
cross-attention, in the UNet's device and dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from diffusion.gligen.model import MAX_OBJECTS, GligenModel
from diffusion.unet.attention import AttentionInfo


@dataclass(frozen=True, eq=False)
class GligenBox:
    """One phrase and its box in latent units (pixels // 8), ComfyUI's (pooled, h, w, y, x)."""

    pooled: Tensor  # (1, in_dim): the phrase's unprojected pooled CLIP-L output
    height: int
    width: int
    y: int
    x: int

    def __post_init__(self) -> None:
        if self.pooled.ndim != 2 or self.pooled.shape[0] != 1:
            raise ValueError(f"pooled must be (1, width), got {tuple(self.pooled.shape)}")
        if min(self.height, self.width) < 0 or min(self.y, self.x) < 0:
            raise ValueError(f"box (h, w, y, x) = {self.as_tuple()} has a negative value")

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.height, self.width, self.y, self.x)


def grounding_inputs(boxes: tuple[GligenBox, ...], latent_shape: tuple[int, int, int, int],
                     in_dim: int) -> tuple[Tensor, Tensor, Tensor]:
    """(boxes (B, 30, 4), masks (B, 30), embeddings (B, 30, in_dim)) on the CPU in float32 for
    a forward over latent rows of ``latent_shape``."""
    batch, _, h, w = latent_shape
    corners = torch.zeros((MAX_OBJECTS, 4))
    masks = torch.zeros(MAX_OBJECTS)
    embeddings = torch.zeros((MAX_OBJECTS, in_dim))
    for i, box in enumerate(boxes):
        corners[i] = torch.tensor((box.x / w, box.y / h, (box.x + box.width) / w,
                                   (box.y + box.height) / h))
        masks[i] = 1.0
        embeddings[i] = box.pooled[0].float().cpu()
    return (corners.expand(batch, -1, -1), masks.expand(batch, -1),
            embeddings.expand(batch, -1, -1))  # (B, 30, 4), (B, 30), (B, 30, in_dim)


@dataclass(eq=False)
class GligenPatch:
    """The middle patch of one forward (``diffusion.unet.attention.MiddlePatch``): grounding
    tokens computed on first use, then each transformer block's fuser."""

    model: GligenModel
    boxes: Tensor  # (B, 30, 4)
    masks: Tensor  # (B, 30)
    embeddings: Tensor  # (B, 30, in_dim)
    _tokens: Tensor | None = field(default=None, repr=False)

    def tokens(self) -> Tensor:
        """(B, 30, key_dim) grounding tokens, float32 on the CPU."""
        if self._tokens is None:
            with torch.no_grad():
                self._tokens = self.model.position_net(self.boxes, self.masks, self.embeddings)
        return self._tokens

    def __call__(self, x: Tensor, info: AttentionInfo) -> Tensor:
        placed = self.model.placed(x.device, x.dtype)
        fuser = placed.fuser(info.block, info.transformer_index)
        if fuser is None:
            raise ValueError(
                f"the GLIGEN model has no fuser for transformer {info.transformer_index} of UNet "
                f"block {info.block}: it was made for another UNet")
        if fuser.linear.out_features != x.shape[-1]:
            raise ValueError(
                f"the GLIGEN fuser of UNet block {info.block} is {fuser.linear.out_features} "
                f"wide, the UNet's hidden states {x.shape[-1]}: it was made for another UNet")
        tokens = self.tokens().to(x.device, x.dtype)
        if tokens.shape[0] != x.shape[0]:
            raise ValueError(f"GLIGEN tokens for {tokens.shape[0]} rows, hidden states have "
                             f"{x.shape[0]}")
        with torch.no_grad():
            return fuser(x, tokens)  # (B, N, C)


@dataclass(frozen=True, eq=False)
class GligenPosition:
    """Text boxes with the GLIGEN model that grounds them (a ``Grounding``)."""

    model: GligenModel
    boxes: tuple[GligenBox, ...]

    def __post_init__(self) -> None:
        if len(self.boxes) > MAX_OBJECTS:
            raise ValueError(f"GLIGEN grounds at most {MAX_OBJECTS} boxes, got {len(self.boxes)}")
        width = self.model.config.position_in_dim
        bad = [b.pooled.shape[-1] for b in self.boxes if b.pooled.shape[-1] != width]
        if bad:
            raise ValueError(f"GLIGEN phrase embeddings must be {width} wide, got {bad}")

    def patch(self, latent_shape: tuple[int, int, int, int]) -> GligenPatch:
        inputs = grounding_inputs(self.boxes, latent_shape, self.model.config.position_in_dim)
        return GligenPatch(self.model, *inputs)
