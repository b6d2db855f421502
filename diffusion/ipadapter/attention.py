"""The IP-Adapter attention processor (the IPAdapter plugin's ``ipadapter_attention``).

At every cross-attention layer it patches, the output of the text attention gets the attention
of the same queries over the image tokens' keys and values added:

    out = attn(q, k, v) + w · attn(q, K_img, V_img)          ("V only", the default)

with ``embeds_scaling`` ``K+V`` (keys and values scaled by w instead), ``K+V w/ C penalty`` (w
times inner width / 1280) and ``K+mean(V) w/ C penalty`` (only the mean of the values scaled).
Keys and values are projected once, when the adapter is applied (``LayerImage``); positive rows
of the batch see the image, negative rows the negative image (zeros, or ``image_negative``),
per ``AttentionInfo.cond_or_uncond``. The weight follows ``WeightSchedule``; the processor acts
only while the step's sigma is within [sigma_end, sigma_start]; ``mask`` (B, H, W) at any size
is resized bilinearly to each layer's token grid and multiplies the image term.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from diffusion.ipadapter.layers import CrossAttentionSlot
from diffusion.ipadapter.weights import WeightSchedule
from diffusion.unet.attention import COND, Attend, AttentionInfo, BlockId, multihead_attention

EMBEDS_SCALING = ("V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty")
PENALTY_WIDTH = 1280.0
NO_SIGMA = 999999999.9  # the plugin's sigma when the caller gives none: always active


@dataclass(frozen=True, eq=False)
class LayerImage:
    """Keys and values of the image tokens at one layer, (1, T, inner) each, for the positive
    image and for the negative one."""

    k_cond: Tensor
    v_cond: Tensor
    k_uncond: Tensor
    v_uncond: Tensor

    def sides(self, swap: bool) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """((k, v) positive, (k, v) negative); ``swap``: the image becomes the negative and
        the positive gets zero tokens (the plugin's ``precise`` weight types)."""
        if swap:
            zeros = (torch.zeros_like(self.k_cond), torch.zeros_like(self.v_cond))
            return zeros, (self.k_cond, self.v_cond)
        return (self.k_cond, self.v_cond), (self.k_uncond, self.v_uncond)


def _scaled_attention(q: Tensor, k: Tensor, v: Tensor, heads: int, weight: float,
                      scaling: str) -> Tensor:
    if scaling == "V only":
        return multihead_attention(q, k, v, heads) * weight
    if scaling != "K+V":
        weight = weight * k.shape[2] / PENALTY_WIDTH
    if scaling == "K+mean(V) w/ C penalty":
        mean = v.mean(dim=1, keepdim=True)  # (B, 1, inner)
        return multihead_attention(q, k * weight, (v - mean) + mean * weight, heads)
    return multihead_attention(q, k * weight, v * weight, heads)


def to_size(tensor: Tensor, size: int) -> Tensor:
    """The plugin's ``tensor_to_size``: cut to ``size`` rows, or repeat the last row."""
    if tensor.shape[0] >= size:
        return tensor[:size]
    extra = tensor[-1:].repeat(size - tensor.shape[0], *([1] * (tensor.ndim - 1)))
    return torch.cat([tensor, extra])


def _mask_rows(mask: Tensor, hw: tuple[int, int], rows: int, groups: int) -> Tensor:
    """The mask resized to the layer's (h, w) token grid: (groups * rows, h * w, 1)."""
    grid = F.interpolate(mask.float().unsqueeze(1), size=hw, mode="bilinear")  # (b, 1, h, w)
    grid = to_size(grid.squeeze(1), rows)  # (rows, h, w)
    return grid.repeat(groups, 1, 1).reshape(groups * rows, -1, 1)


@dataclass(frozen=True, eq=False)
class IPAdapterAttention:
    """One applied adapter: ``images`` by adapter key, the patched ``slots`` by
    (block, transformer index), its weight schedule, sigma window, scaling and mask."""

    slots: Mapping[tuple[BlockId, int], CrossAttentionSlot]
    images: Mapping[int, LayerImage]
    schedule: WeightSchedule
    sigma_start: float = float("inf")
    sigma_end: float = 0.0
    embeds_scaling: str = "V only"
    mask: Tensor | None = None  # (B, H, W)

    def __post_init__(self) -> None:
        if self.embeds_scaling not in EMBEDS_SCALING:
            raise ValueError(f"embeds_scaling {self.embeds_scaling!r}: choose one of "
                             f"{list(EMBEDS_SCALING)}")
        if self.mask is not None and self.mask.ndim != 3:
            raise ValueError(f"mask must be (B, H, W), got {tuple(self.mask.shape)}")

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo,
                 attend: Attend) -> Tensor:
        out = attend(q, k, v)
        if info.kind != "cross":
            return out
        slot = self.slots.get((info.block, info.transformer_index))
        sigma = NO_SIGMA if info.sigmas is None else float(info.sigmas[0])
        if slot is None or not self.sigma_end <= sigma <= self.sigma_start:
            return out
        image = self._image(q, info, slot)
        return out if image is None else out + image.to(out.dtype)

    def _image(self, q: Tensor, info: AttentionInfo, slot: CrossAttentionSlot) -> Tensor | None:
        """The image term (B, N, inner), or None when the layer's weight is 0."""
        at = self.schedule.at(slot.spatial_index, info.block[0])
        if at.weight == 0:
            return None
        groups = info.cond_or_uncond or (COND,)
        rows = q.shape[0] // len(groups)
        sides = self.images[slot.key].sides(at.image_as_negative)
        ks, vs = zip(*(sides[0] if g == COND else sides[1] for g in groups), strict=True)
        ip_k = torch.cat([t.to(q).expand(rows, -1, -1) for t in ks])  # (B, T, inner)
        ip_v = torch.cat([t.to(q).expand(rows, -1, -1) for t in vs])
        image = _scaled_attention(q, ip_k, ip_v, info.heads, at.weight, self.embeds_scaling)
        if self.mask is not None:
            image = image * _mask_rows(self.mask, info.hw, rows, len(groups)).to(image)
        return image
