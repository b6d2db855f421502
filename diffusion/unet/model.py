"""The LDM UNet (``ldm.modules.diffusionmodules.openaimodel.UNetModel``) for SD1.x, SD2.x and SDXL.

Parameter names equal the keys of real single-file checkpoints under ``model.diffusion_model.``,
so loading is a direct ``load_state_dict``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from diffusion.unet.attention import AttentionHooks, BlockId
from diffusion.unet.block_patches import BlockInfo, BlockPatches
from diffusion.unet.blocks import (
    Downsample,
    ResBlock,
    SpatialTransformer,
    Upsample,
    timestep_embedding,
)
from diffusion.unet.config import ADM_FOURIER_CHANNELS, UNetConfig
from diffusion.unet.hooks import UNetResiduals


class TimestepEmbedSequential(nn.Sequential):
    """A sequence whose members take what they need: ResBlocks the embedding, attention the
    context (and the attention hooks with the timesteps), upsamplers the output size."""

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        emb: Tensor,
        context: Tensor,
        output_size: tuple[int, int] | None = None,
        *,
        attention: AttentionHooks | None = None,
        timesteps: Tensor | None = None,
    ) -> Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context, attention=attention, timesteps=timesteps)
            elif isinstance(layer, Upsample):
                x = layer(x, output_size)
            else:
                x = layer(x)
        return x


def res_block(config: UNetConfig, channels: int, out_channels: int) -> ResBlock:
    """A ResBlock of ``config``'s family (time-embedding width, norm groups and eps)."""
    return ResBlock(channels, config.time_embed_dim, out_channels, config.norm_groups,
                    config.resnet_eps)


def spatial_transformer(config: UNetConfig, channels: int, depth: int,
                        block: BlockId) -> SpatialTransformer:
    """The transformer of UNet block ``block`` (ComfyUI's id, for ``AttentionInfo``)."""
    heads, dim_head = config.heads_for(channels)
    return SpatialTransformer(
        channels,
        heads,
        dim_head,
        depth,
        config.context_dim,
        use_linear=config.use_linear_in_transformer,
        groups=config.norm_groups,
        norm_eps=config.transformer_norm_eps,
        layer_norm_eps=config.layer_norm_eps,
        block=block,
    )


def time_embedding(config: UNetConfig) -> nn.Sequential:
    """``time_embed``: sinusoidal features (model_channels) to the embedding width."""
    mc, emb_dim = config.model_channels, config.time_embed_dim
    return nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))


def label_embedding(config: UNetConfig) -> nn.Sequential | None:
    """``label_emb`` (SDXL's ADM input) or None."""
    if config.adm_in_channels is None:
        return None
    emb_dim = config.time_embed_dim
    inner = nn.Sequential(
        nn.Linear(config.adm_in_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
    )
    return nn.Sequential(inner)


def input_blocks(config: UNetConfig) -> tuple[nn.ModuleList, list[int]]:
    """``input_blocks`` and the channel count of every skip connection (one per block)."""
    ch = config.model_channels
    blocks = [TimestepEmbedSequential(nn.Conv2d(config.in_channels, ch, 3, padding=1))]
    skip_channels = [ch]
    depths = iter(config.transformer_depth)
    for level, mult in enumerate(config.channel_mult):
        for _ in range(config.num_res_blocks[level]):
            layers: list[nn.Module] = [res_block(config, ch, mult * config.model_channels)]
            ch = mult * config.model_channels
            depth = next(depths)
            if depth > 0:
                layers.append(spatial_transformer(config, ch, depth, ("input", len(blocks))))
            blocks.append(TimestepEmbedSequential(*layers))
            skip_channels.append(ch)
        if level != len(config.channel_mult) - 1:
            blocks.append(TimestepEmbedSequential(Downsample(ch)))
            skip_channels.append(ch)
    return nn.ModuleList(blocks), skip_channels


def middle_block(config: UNetConfig, ch: int) -> TimestepEmbedSequential | None:
    """``middle_block``: None, a lone ResBlock (depth -1) or ResBlock-transformer-ResBlock."""
    depth = config.transformer_depth_middle
    if depth is None:
        return None
    layers: list[nn.Module] = [res_block(config, ch, ch)]
    if depth >= 0:
        layers += [spatial_transformer(config, ch, depth, ("middle", 0)), res_block(config, ch, ch)]
    return TimestepEmbedSequential(*layers)


class UNetModel(nn.Module):
    """Noise-prediction UNet; ``forward(x, timesteps, context, y)`` as in the original code."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.time_embed = time_embedding(config)
        label_emb = label_embedding(config)
        if label_emb is not None:
            self.label_emb = label_emb
        self.input_blocks, skip_channels = input_blocks(config)
        ch = config.model_channels * config.channel_mult[-1]
        self.middle_block = middle_block(config, ch)
        ch = self._build_output_blocks(ch, skip_channels)
        self.out = nn.Sequential(
            nn.GroupNorm(config.norm_groups, ch, eps=config.resnet_eps),
            nn.SiLU(),
            nn.Conv2d(ch, config.out_channels, 3, padding=1),
        )

    def _build_output_blocks(self, ch: int, skip_channels: list[int]) -> int:
        cfg = self.config
        skips = list(skip_channels)
        depths = iter(cfg.transformer_depth_output)
        blocks = []
        for level in reversed(range(len(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks[level] + 1):
                out_ch = cfg.model_channels * cfg.channel_mult[level]
                layers: list[nn.Module] = [res_block(cfg, ch + skips.pop(), out_ch)]
                ch = out_ch
                depth = next(depths)
                if depth > 0:
                    layers.append(spatial_transformer(cfg, ch, depth, ("output", len(blocks))))
                if level and i == cfg.num_res_blocks[level]:
                    layers.append(Upsample(ch))
                blocks.append(TimestepEmbedSequential(*layers))
        self.output_blocks = nn.ModuleList(blocks)
        return ch

    def forward(
        self,
        x: Tensor,
        timesteps: Tensor,
        context: Tensor,
        y: Tensor | None = None,
        *,
        residuals: UNetResiduals | None = None,
        attention: AttentionHooks | None = None,
        blocks: BlockPatches | None = None,
    ) -> Tensor:
        """x: (B, in, H, W); timesteps: (B,); context: (B, T, context_dim); y: (B, adm) for SDXL.

        ``residuals`` is the ControlNet extension point: tensors added to the skip connections
        and to the middle block output (see ``UNetResiduals``). ``attention`` runs processors
        around every attention call (IP-Adapter, PAG ...; see ``diffusion.unet.attention``);
        ``blocks`` patches between blocks (FreeU, Deep Shrink; ``diffusion.unet.block_patches``).
        ``None`` or empty hooks compute the plain network.
        """
        if (y is None) != (self.config.adm_in_channels is None):
            raise ValueError(
                f"y={'None' if y is None else tuple(y.shape)} but "
                f"adm_in_channels={self.config.adm_in_channels}"
            )
        attention = self._attention_for(attention, x)
        walk = _Walk(self, x, self._embed(timesteps, y, x.dtype), context, timesteps,
                     attention, blocks or None)
        hs, h = walk.encode(residuals)
        if residuals is not None:
            hs = residuals.add_to_skips(hs)
        if self.middle_block is not None:
            h = walk.run(self.middle_block, h)
        if residuals is not None:
            h = residuals.add_to_middle(h)
        return self.out(walk.decode(h, hs))

    def _attention_for(self, attention: AttentionHooks | None, x: Tensor
                       ) -> AttentionHooks | None:
        if attention is None or not attention:
            return None
        attention.check_batch(x.shape[0])
        return dataclasses.replace(attention, original_shape=tuple(x.shape))

    def _embed(self, timesteps: Tensor, y: Tensor | None, dtype: torch.dtype) -> Tensor:
        t_emb = timestep_embedding(timesteps, self.config.model_channels).to(dtype)  # (B, mc)
        emb: Tensor = self.time_embed(t_emb)  # (B, 4*mc)
        if y is not None:
            emb = emb + self.label_emb(y.to(dtype))
        return emb


@dataclass(frozen=True, eq=False)
class _Walk:
    """One forward through the blocks: what every block gets, and the block patches."""

    net: UNetModel
    x: Tensor
    emb: Tensor
    context: Tensor
    timesteps: Tensor
    attention: AttentionHooks | None
    blocks: BlockPatches | None

    def run(self, block: nn.Module, h: Tensor, output_size: tuple[int, int] | None = None
            ) -> Tensor:
        out: Tensor = block(h, self.emb, self.context, output_size, attention=self.attention,
                            timesteps=self.timesteps)
        return out

    def _info(self, block: BlockId) -> BlockInfo:
        assert self.blocks is not None
        return self.blocks.info(block, tuple(self.x.shape), self.net.config.model_channels)

    def encode(self, residuals: UNetResiduals | None) -> tuple[list[Tensor], Tensor]:
        """The skip of every input block and what leaves the last one (encoder-side control
        residuals added after their block, before the block patches)."""
        hs: list[Tensor] = []
        h = self.x
        for index, block in enumerate(self.net.input_blocks):
            h = self.run(block, h)
            if residuals is not None:
                h = residuals.add_to_input(index, h)
            if self.blocks is not None:
                h = self.blocks.after_input(h, self._info(("input", index)))
            hs.append(h)
            if self.blocks is not None:
                h = self.blocks.after_skip(h, self._info(("input", index)))
        return hs, h

    def decode(self, h: Tensor, hs: list[Tensor]) -> Tensor:
        for index, block in enumerate(self.net.output_blocks):
            skip = hs.pop()
            if self.blocks is not None:
                h, skip = self.blocks.before_output(h, skip, self._info(("output", index)))
            h = torch.cat([h, skip], dim=1)  # (B, C + C_skip, H, W)
            output_size = (hs[-1].shape[-2], hs[-1].shape[-1]) if hs else None
            h = self.run(block, h, output_size)
        return h


def sdxl_adm(pooled: Tensor, micro_conditions: Sequence[Tensor]) -> Tensor:
    """SDXL label-embedding input: pooled text embedding then 256-d Fourier features per condition.

    pooled: (B, 1280); each micro-condition: (B,). Base: original h, w, crop top, left,
    target h, w. Refiner: original h, w, crop top, left, aesthetic score.
    """
    feats = [
        timestep_embedding(c.flatten(), ADM_FOURIER_CHANNELS).to(pooled.dtype)
        for c in micro_conditions
    ]
    return torch.cat([pooled, *feats], dim=-1)  # (B, 1280 + 256*len(micro_conditions))
