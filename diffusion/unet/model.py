"""The LDM UNet (``ldm.modules.diffusionmodules.openaimodel.UNetModel``) for SD1.x, SD2.x and SDXL.

Parameter names equal the keys of real single-file checkpoints under ``model.diffusion_model.``,
so loading is a direct ``load_state_dict``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from diffusion.unet.attention import AttentionHooks, BlockId
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


class UNetModel(nn.Module):
    """Noise-prediction UNet; ``forward(x, timesteps, context, y)`` as in the original code."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        mc, emb_dim = config.model_channels, config.time_embed_dim
        self.time_embed = nn.Sequential(
            nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.label_emb: nn.Module
        if config.adm_in_channels is not None:
            inner = nn.Sequential(
                nn.Linear(config.adm_in_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
            )
            self.label_emb = nn.Sequential(inner)
        elif config.num_classes is not None:
            self.label_emb = nn.Embedding(config.num_classes, emb_dim)
        skip_channels = self._build_input_blocks()
        ch = config.model_channels * config.channel_mult[-1]
        self.middle_block = self._build_middle_block(ch)
        ch = self._build_output_blocks(ch, skip_channels)
        self.out = nn.Sequential(
            nn.GroupNorm(config.norm_groups, ch, eps=config.resnet_eps),
            nn.SiLU(),
            nn.Conv2d(ch, config.out_channels, 3, padding=1),
        )

    def _res(self, channels: int, out_channels: int) -> ResBlock:
        cfg = self.config
        return ResBlock(channels, cfg.time_embed_dim, out_channels, cfg.norm_groups, cfg.resnet_eps)

    def _attn(self, channels: int, depth: int, block: BlockId,
              disable_self_attn: bool) -> SpatialTransformer:
        """The transformer of UNet block ``block`` (ComfyUI's id, for ``AttentionInfo``)."""
        cfg = self.config
        heads, dim_head = cfg.heads_for(channels)
        return SpatialTransformer(
            channels,
            heads,
            dim_head,
            depth,
            cfg.context_dim,
            use_linear=cfg.use_linear_in_transformer,
            groups=cfg.norm_groups,
            norm_eps=cfg.transformer_norm_eps,
            layer_norm_eps=cfg.layer_norm_eps,
            block=block,
            disable_self_attn=disable_self_attn,
        )

    def _build_input_blocks(self) -> list[int]:
        """Creates ``input_blocks``; returns the channel count of every skip connection."""
        cfg = self.config
        ch = cfg.model_channels
        blocks = [TimestepEmbedSequential(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))]
        skip_channels = [ch]
        depths = iter(cfg.transformer_depth)
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks[level]):
                layers: list[nn.Module] = [self._res(ch, mult * cfg.model_channels)]
                ch = mult * cfg.model_channels
                depth = next(depths)
                if depth > 0:
                    layers.append(self._attn(ch, depth, ("input", len(blocks)),
                                             cfg.self_attention_disabled(level)))
                blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != len(cfg.channel_mult) - 1:
                blocks.append(TimestepEmbedSequential(Downsample(ch)))
                skip_channels.append(ch)
        self.input_blocks = nn.ModuleList(blocks)
        return skip_channels

    def _build_middle_block(self, ch: int) -> TimestepEmbedSequential | None:
        depth = self.config.transformer_depth_middle
        if depth is None:
            return None
        layers: list[nn.Module] = [self._res(ch, ch)]
        if depth >= 0:
            disabled = self.config.disable_middle_self_attn
            layers += [self._attn(ch, depth, ("middle", 0), disabled), self._res(ch, ch)]
        return TimestepEmbedSequential(*layers)

    def _build_output_blocks(self, ch: int, skip_channels: list[int]) -> int:
        cfg = self.config
        skips = list(skip_channels)
        depths = iter(cfg.transformer_depth_output)
        blocks = []
        for level in reversed(range(len(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks[level] + 1):
                out_ch = cfg.model_channels * cfg.channel_mult[level]
                layers: list[nn.Module] = [self._res(ch + skips.pop(), out_ch)]
                ch = out_ch
                depth = next(depths)
                if depth > 0:
                    layers.append(self._attn(ch, depth, ("output", len(blocks)),
                                             cfg.self_attention_disabled(level)))
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
    ) -> Tensor:
        """x: (B, in, H, W); timesteps: (B,); context: (B, T, context_dim); y: (B, adm) for SDXL,
        (B,) integer class labels for a ``num_classes`` model (the x4 upscaler's noise level).

        ``residuals`` is the ControlNet extension point: tensors added to the skip connections
        and to the middle block output (see ``UNetResiduals``). ``attention`` runs processors
        around every attention call (IP-Adapter, PAG ...; see ``diffusion.unet.attention``);
        ``None`` or no processors compute plain attention.
        """
        cfg = self.config
        if (y is None) == cfg.takes_y:
            raise ValueError(
                f"y={'None' if y is None else tuple(y.shape)} but "
                f"adm_in_channels={cfg.adm_in_channels}, num_classes={cfg.num_classes}"
            )
        if attention is not None and not attention:
            attention = None
        if attention is not None:
            attention.check_batch(x.shape[0])
        t_emb = timestep_embedding(timesteps, self.config.model_channels).to(x.dtype)  # (B, mc)
        emb = self.time_embed(t_emb)  # (B, 4*mc)
        if y is not None:
            emb = emb + self._label(y, x.dtype)
        hs: list[Tensor] = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb, context, attention=attention, timesteps=timesteps)
            hs.append(h)
        if residuals is not None:
            hs = residuals.add_to_skips(hs)
        if self.middle_block is not None:
            h = self.middle_block(h, emb, context, attention=attention, timesteps=timesteps)
        if residuals is not None:
            h = residuals.add_to_middle(h)
        for block in self.output_blocks:
            h = torch.cat([h, hs.pop()], dim=1)  # (B, C + C_skip, H, W)
            output_size = (hs[-1].shape[-2], hs[-1].shape[-1]) if hs else None
            h = block(h, emb, context, output_size, attention=attention, timesteps=timesteps)
        return self.out(h)

    def _label(self, y: Tensor, dtype: torch.dtype) -> Tensor:
        """The (B, 4*mc) label embedding of ADM vectors or integer class labels."""
        if self.config.num_classes is None:
            return self.label_emb(y.to(dtype))
        if y.is_floating_point() or y.ndim != 1:
            raise ValueError(
                f"a num_classes model takes y as (B,) integer labels, got {y.dtype} "
                f"{tuple(y.shape)}"
            )
        return self.label_emb(y).to(dtype)  # (B, 4*mc)


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
