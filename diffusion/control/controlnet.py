"""The ControlNet (``cldm.ControlNet`` of lllyasviel's code, as ComfyUI runs it): a trainable copy
of a UNet's encoder that reads a hint image and returns one residual per skip connection plus
one for the middle block, each through a 1x1 "zero convolution".

Parameter names equal the keys of the original files under ``control_model.`` (lllyasviel 1.0 /
1.1, SD2.x ControlNets); diffusers-layout files are renamed onto them
(``diffusion.control.layout``).
xinsir's ControlNet-Union / ProMax adds a control-type embedding and a hint fuser
(``diffusion.control.union``), whose parameters keep the names of those files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from diffusion.control.union import (
    ControlAddEmbedding,
    UnionAttentionBlock,
    check_types,
    fuse_hint,
)
from diffusion.unet.blocks import timestep_embedding
from diffusion.unet.config import UNetConfig
from diffusion.unet.model import (
    TimestepEmbedSequential,
    input_blocks,
    label_embedding,
    middle_block,
    time_embedding,
)

HINT_CHANNELS = (16, 16, 32, 32, 96, 96, 256)  # the hint encoder's widths before model_channels
HINT_STRIDES = (1, 1, 2, 1, 2, 1, 2, 1)  # per conv: three stride-2 convs, hint pixels / 8


@dataclass(frozen=True)
class ControlNetConfig:
    """``unet``: the UNet whose encoder the ControlNet copies (its decoder fields are unused);
    ``hint_channels``: channels of the hint image (3 RGB); ``union_types``: the number of control
    types of a ControlNet-Union (None for a plain ControlNet)."""

    unet: UNetConfig
    hint_channels: int = 3
    union_types: int | None = None

    def __post_init__(self) -> None:
        if self.unet.transformer_depth_middle is None:
            raise ValueError("a ControlNet needs a middle block (transformer_depth_middle=None)")
        if self.hint_channels < 1:
            raise ValueError(f"hint_channels={self.hint_channels} must be >= 1")
        if self.union_types is not None and self.union_types < 1:
            raise ValueError(f"union_types={self.union_types} must be >= 1 or None")


@dataclass(frozen=True, eq=False)
class ControlNetOutput:
    """One residual per input block (``skips``, in block order) and one for the middle block,
    before the strength is applied."""

    skips: tuple[Tensor, ...]
    middle: Tensor


def _zero_conv(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 1))


def hint_encoder(hint_channels: int, model_channels: int) -> nn.Sequential:
    """``input_hint_block``: eight 3x3 convs with SiLU between, hint pixels to latent size."""
    widths = (hint_channels, *HINT_CHANNELS, model_channels)
    layers: list[nn.Module] = []
    for i, stride in enumerate(HINT_STRIDES):
        if i:
            layers.append(nn.SiLU())
        layers.append(nn.Conv2d(widths[i], widths[i + 1], 3, stride=stride, padding=1))
    return nn.Sequential(*layers)


class ControlNetModel(nn.Module):
    """``forward(x, hint, timesteps, context, y, control_type)`` -> ``ControlNetOutput``."""

    def __init__(self, config: ControlNetConfig) -> None:
        super().__init__()
        self.config = config
        unet = config.unet
        self.time_embed = time_embedding(unet)
        label_emb = label_embedding(unet)
        if label_emb is not None:
            self.label_emb = label_emb
        self.input_blocks, skip_channels = input_blocks(unet)
        self.zero_convs = nn.ModuleList(_zero_conv(ch) for ch in skip_channels)
        self.input_hint_block = hint_encoder(config.hint_channels, unet.model_channels)
        ch = skip_channels[-1]
        middle = middle_block(unet, ch)
        assert middle is not None  # checked by ControlNetConfig
        self.middle_block = middle
        self.middle_block_out = _zero_conv(ch)
        if config.union_types is not None:  # the Union's parts, named as in its files
            width = unet.model_channels
            self.task_embedding = nn.Parameter(torch.zeros(config.union_types, width))
            self.transformer_layes = nn.Sequential(UnionAttentionBlock(width))
            self.spatial_ch_projs = nn.Linear(width, width)
            self.control_add_embedding = ControlAddEmbedding(config.union_types,
                                                             unet.time_embed_dim)

    def forward(
        self,
        x: Tensor,
        hint: Tensor,
        timesteps: Tensor,
        context: Tensor,
        y: Tensor | None = None,
        control_type: Sequence[int] = (),
    ) -> ControlNetOutput:
        """x: (B, in, h, w) scaled latent; hint: (B, hint_channels, 8h, 8w); timesteps: (B,);
        context: (B, T, C); y: (B, adm) for SDXL. ``control_type``: a Union's types (the first
        one is used, as ComfyUI; empty: none); refused by a plain ControlNet."""
        unet = self.config.unet
        if (y is None) != (unet.adm_in_channels is None):
            raise ValueError(f"y={'None' if y is None else tuple(y.shape)} but the ControlNet's "
                             f"adm_in_channels={unet.adm_in_channels}")
        t_emb = timestep_embedding(timesteps, unet.model_channels).to(x.dtype)  # (B, mc)
        emb = self.time_embed(t_emb)  # (B, 4*mc)
        guided: Tensor | None = None
        if self.config.union_types is not None:
            check_types(control_type, self.config.union_types)
            emb = emb + self.control_add_embedding(control_type, emb.dtype)  # (B, 4*mc)
            if control_type:
                task_row = self.task_embedding[control_type[0]]  # (mc,)
                guided = fuse_hint(self.input_hint_block(hint), task_row,
                                   self.transformer_layes, self.spatial_ch_projs)
        elif control_type:
            raise ValueError(f"control_type={list(control_type)!r} needs a ControlNet-Union; "
                             "this ControlNet has no control types")
        if guided is None:
            guided = self.input_hint_block(hint)  # (B, mc, h, w)
        if y is not None:
            emb = emb + self.label_emb(y)
        return self._encode(x, guided, emb, context)

    def _encode(self, x: Tensor, guided: Tensor, emb: Tensor, context: Tensor) -> ControlNetOutput:
        skips = []
        h = x
        for index, (block, zero_conv) in enumerate(
                zip(self.input_blocks, self.zero_convs, strict=True)):
            h = block(h, emb, context)
            if index == 0:
                h = h + guided  # (B, mc, h, w)
            skips.append(zero_conv(h))
        h = self.middle_block(h, emb, context)
        return ControlNetOutput(tuple(skips), self.middle_block_out(h))


__all__ = ["ControlNetConfig", "ControlNetModel", "ControlNetOutput", "TimestepEmbedSequential",
           "hint_encoder"]
