"""Building blocks of the LDM UNet; module and parameter names follow ``ldm.modules`` exactly."""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.ops.fast_conv import FastConv2d
from diffusion.unet.attention import (
    AttentionHooks,
    AttentionInfo,
    BlockId,
    multihead_attention,
)


def timestep_embedding(timesteps: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding ``[cos, sin]`` of (possibly fractional) timesteps: (B,) -> (B, dim)."""
    half = dim // 2
    exponent = (
        -math.log(max_period)
        * torch.arange(half, dtype=torch.float32, device=timesteps.device)
        / half
    )
    args = timesteps[:, None].float() * torch.exp(exponent)[None]  # (B, dim/2)
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, dim)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)  # (B, dim)
    return embedding


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the timestep embedding added in between."""

    def __init__(
        self, channels: int, emb_channels: int, out_channels: int, groups: int, eps: float
    ) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(
            nn.GroupNorm(groups, channels, eps=eps),
            nn.SiLU(),
            FastConv2d(channels, out_channels, 3, padding=1),
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(
            nn.GroupNorm(groups, out_channels, eps=eps),
            nn.SiLU(),
            nn.Dropout(0.0),
            FastConv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection: nn.Module = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).to(h.dtype)[:, :, None, None]  # (B, C, H, W)
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    """Stride-2 3x3 convolution (``input_blocks.N.0.op``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = FastConv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Nearest 2x upsampling then a 3x3 convolution; ``size`` matches an odd-sized skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = FastConv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (B, C, 2H, 2W)
        else:
            x = F.interpolate(x, size=size, mode="nearest")  # (B, C, *size)
        return self.conv(x)


class CrossAttention(nn.Module):
    """Multi-head attention through ``scaled_dot_product_attention`` (self when context is None).

    ``hooks`` (with the call's ``info``) runs attention processors around the default attention;
    see ``diffusion.unet.attention``.
    """

    def __init__(self, query_dim: int, context_dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))
        # fp32 attention for half-precision weights (SD2.x overflows in fp16): diffusion.dtypes
        self.upcast_attention = False

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        hooks: AttentionHooks | None = None,
        info: AttentionInfo | None = None,
    ) -> Tensor:
        context = x if context is None else context
        if hooks is None:
            q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)  # (B, N|M, inner)
            return self.to_out(self.attend(q, k, v))
        if info is None:
            raise ValueError("CrossAttention got hooks but info=None; pass the call's info")
        x, context_k, context_v, restores = hooks.patch_inputs(x, context, info)
        q, k, v = self.to_q(x), self.to_k(context_k), self.to_v(context_v)  # (B, N|M, inner)
        out: Tensor = self.to_out(hooks.run(q, k, v, info, self.attend))
        for restore in reversed(restores):
            out = restore(out)  # back to the tokens before each token patch
        return out

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """The default attention: (B, N, inner) from q (B, N, inner), k and v (B, M, inner)."""
        return multihead_attention(q, k, v, self.heads, upcast=self.upcast_attention)


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)  # (B, N, dim_out) each
        if value.requires_grad:
            return value * F.gelu(gate)
        return F.gelu(gate).mul_(value)  # no autograd: one fresh tensor instead of two


FF_MMAP_BYTES = 32 << 20  # glibc serves larger allocations by fresh mmap (faulted per call)
FF_BLOCK_BYTES = 16 << 20  # the largest GEGLU projection a chunk makes


class FeedForward(nn.Module):
    """GEGLU projection to 8x ``dim``, then back to ``dim``.

    Without autograd, a projection over ``FF_MMAP_BYTES`` (SD1.5's 64x64 level: 8,192 x 2,560
    floats, 84 MB) is computed in equal row chunks of at most ``FF_BLOCK_BYTES``: every
    temporary is then reused heap memory instead of fresh pages (measured 198.5 -> 166.8 ms per
    call on this 2-core CPU; smaller projections gain nothing from chunks, so they take none).
    """

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(
            GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        width = getattr(self.net[0].proj, "out_features", None)  # None: a wrapper (LoRA training)
        rows = x.numel() // x.shape[-1]
        if not isinstance(width, int) or _needs_grad(x, self):
            return self.net(x)
        projected = rows * width * x.element_size()  # bytes
        if projected <= FF_MMAP_BYTES:
            return self.net(x)
        chunks = -(-projected // FF_BLOCK_BYTES)
        flat = x.reshape(rows, x.shape[-1])  # (B*N, dim)
        return torch.cat([self.net(part) for part in flat.chunk(chunks)]).view(x.shape)


def _needs_grad(x: Tensor, module: nn.Module) -> bool:
    if not torch.is_grad_enabled():
        return False
    return x.requires_grad or any(p.requires_grad for p in module.parameters())


class BasicTransformerBlock(nn.Module):
    """Pre-norm self-attention, cross-attention and GEGLU feed-forward, each residual.

    ``disable_self_attn`` (the SD x4 upscaler's low levels): ``attn1`` attends to the context
    too, as LDM's ``disable_self_attn``. Middle patches (``AttentionHooks.middle_patches``) run
    between the first attention and the second.
    """

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int, eps: float,
                 *, disable_self_attn: bool = False) -> None:
        super().__init__()
        self.disable_self_attn = disable_self_attn
        self.attn1 = CrossAttention(dim, context_dim if disable_self_attn else dim, heads,
                                    dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.norm3 = nn.LayerNorm(dim, eps=eps)

    def forward(
        self,
        x: Tensor,
        context: Tensor,
        *,
        hooks: AttentionHooks | None = None,
        info: AttentionInfo | None = None,
    ) -> Tensor:
        """``info`` (required with ``hooks``) describes this block; ``kind`` is set per call."""
        self_info = cross_info = None
        if hooks is not None:
            if info is None:
                raise ValueError("BasicTransformerBlock got hooks but info=None")
            self_info = dataclasses.replace(info, kind="self")
            cross_info = dataclasses.replace(info, kind="cross")
        context_1 = context if self.disable_self_attn else None
        x = x + self.attn1(self.norm1(x), context_1, hooks=hooks, info=self_info)
        if hooks is not None and hooks.middle_patches:
            assert self_info is not None
            x = hooks.patch_middle(x, self_info)
        x = x + self.attn2(self.norm2(x), context, hooks=hooks, info=cross_info)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """GroupNorm, projection in (1x1 conv or linear), ``depth`` blocks, projection out."""

    def __init__(
        self,
        channels: int,
        heads: int,
        dim_head: int,
        depth: int,
        context_dim: int,
        *,
        use_linear: bool,
        groups: int,
        norm_eps: float,
        layer_norm_eps: float,
        block: BlockId | None = None,
        disable_self_attn: bool = False,
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        # Plain attributes (not in the state dict): ComfyUI's id of the UNet block holding this
        # transformer, set by the model that builds it, and the head count, for AttentionInfo.
        self.block = block
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels, eps=norm_eps)
        self.proj_in: nn.Module = (
            nn.Linear(channels, inner) if use_linear else nn.Conv2d(channels, inner, 1)
        )
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(inner, heads, dim_head, context_dim, layer_norm_eps,
                                  disable_self_attn=disable_self_attn)
            for _ in range(depth)
        )
        self.proj_out: nn.Module = (
            nn.Linear(inner, channels) if use_linear else nn.Conv2d(inner, channels, 1)
        )

    def forward(
        self,
        x: Tensor,
        context: Tensor,
        *,
        attention: AttentionHooks | None = None,
        timesteps: Tensor | None = None,
    ) -> Tensor:
        """``attention`` runs processors around every attention call (``timesteps``, the UNet's
        (B,) input, is then required: it goes into each ``AttentionInfo``)."""
        b, _, height, width = x.shape
        h = self.norm(x)
        if not self.use_linear:
            h = self.proj_in(h)  # (B, inner, H, W)
        h = h.flatten(2).transpose(1, 2)  # (B, H*W, C)
        if self.use_linear:
            h = self.proj_in(h)  # (B, H*W, inner)
        for index, block in enumerate(self.transformer_blocks):
            info = self._info(index, (height, width), attention, timesteps)
            h = block(h, context, hooks=attention, info=info)
        if self.use_linear:
            h = self.proj_out(h)  # (B, H*W, C)
        h = h.transpose(1, 2).reshape(b, -1, height, width)  # (B, C, H, W)
        if not self.use_linear:
            h = self.proj_out(h)  # (B, C, H, W)
        return x + h

    def _info(
        self,
        index: int,
        hw: tuple[int, int],
        attention: AttentionHooks | None,
        timesteps: Tensor | None,
    ) -> AttentionInfo | None:
        """The info of transformer ``index``'s calls; ``None`` without hooks."""
        if attention is None:
            return None
        if self.block is None:
            raise ValueError(
                "SpatialTransformer.block is None: the model building it must set its block id "
                "before attention hooks can describe its calls"
            )
        if timesteps is None:
            raise ValueError(
                f"SpatialTransformer in block {self.block} got attention hooks but timesteps=None"
            )
        return AttentionInfo(
            kind="self",
            block=self.block,
            transformer_index=index,
            heads=self.heads,
            hw=hw,
            timesteps=timesteps,
            cond_or_uncond=attention.cond_or_uncond,
            original_shape=attention.original_shape,
            sigmas=attention.sigmas,
        )
