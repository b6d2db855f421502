"""Where an IP-Adapter's per-layer projections go in our UNet.

Every cross-attention layer is a ``(block, transformer_index)`` of ``AttentionInfo`` (ComfyUI's
block id and the ``BasicTransformerBlock``'s index in its ``SpatialTransformer``). Its adapter key
``N`` counts attention processors in diffusers' order (input blocks, output blocks, middle block;
self- and cross-attention alternating, so cross-attention is ``2 * n + 1``). ``spatial_index`` is
ComfyUI's ``transformer_index`` (the SpatialTransformer's place in forward order: input, middle,
output; 16 of them in SD1.x, 11 in SDXL), which the IPAdapter plugin's weight types read.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusion.unet.attention import BlockId
from diffusion.unet.config import UNetConfig


@dataclass(frozen=True)
class CrossAttentionSlot:
    block: BlockId
    transformer_index: int
    key: int  # the adapter's ip_adapter.N
    spatial_index: int
    inner: int  # the layer's attention width


@dataclass(frozen=True)
class _Transformer:
    block: BlockId
    depth: int
    channels: int


def _inputs(cfg: UNetConfig) -> list[_Transformer]:
    found, index, depths = [], 1, iter(cfg.transformer_depth)
    for level, mult in enumerate(cfg.channel_mult):
        for _ in range(cfg.num_res_blocks[level]):
            depth = next(depths)
            if depth > 0:
                found.append(_Transformer(("input", index), depth, mult * cfg.model_channels))
            index += 1
        index += level != len(cfg.channel_mult) - 1  # the downsampler's block
    return found


def _outputs(cfg: UNetConfig) -> list[_Transformer]:
    found, index, depths = [], 0, iter(cfg.transformer_depth_output)
    for level in reversed(range(len(cfg.channel_mult))):
        for _ in range(cfg.num_res_blocks[level] + 1):
            depth = next(depths)
            if depth > 0:
                found.append(_Transformer(("output", index), depth,
                                          cfg.channel_mult[level] * cfg.model_channels))
            index += 1
    return found


def _middle(cfg: UNetConfig) -> list[_Transformer]:
    depth = cfg.transformer_depth_middle
    if depth is None or depth <= 0:
        return []
    return [_Transformer(("middle", 0), depth, cfg.channel_mult[-1] * cfg.model_channels)]


def cross_attention_slots(cfg: UNetConfig) -> list[CrossAttentionSlot]:
    """Every cross-attention layer of a UNet of ``cfg``, in adapter key order."""
    inputs, middle, outputs = _inputs(cfg), _middle(cfg), _outputs(cfg)
    spatial = {t.block: i for i, t in enumerate([*inputs, *middle, *outputs])}
    slots, n = [], 0
    for t in [*inputs, *outputs, *middle]:
        heads, width = cfg.heads_for(t.channels)
        for index in range(t.depth):
            slots.append(CrossAttentionSlot(t.block, index, 2 * n + 1, spatial[t.block],
                                            heads * width))
            n += 1
    return slots


def spatial_transformer_count(cfg: UNetConfig) -> int:
    """ComfyUI's count of SpatialTransformers (the plugin's ``layers``: 16 SD1.x, 11 SDXL)."""
    return len(_inputs(cfg)) + len(_middle(cfg)) + len(_outputs(cfg))
