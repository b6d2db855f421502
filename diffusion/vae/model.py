"""KL autoencoder (``ldm.models.autoencoder.AutoencoderKL``), f=8, in the LDM key layout.

State-dict keys equal the single-file checkpoint keys under ``first_stage_model.`` (``encoder.*``,
``decoder.*``, ``quant_conv``, ``post_quant_conv``) and standalone VAE files. Pixels are
channels-first in [-1, 1]; latents are the raw (unscaled) VAE latents — the per-family scale lives
in ``diffusion.latent_format``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.ops.fast_conv import FastConv2d


@dataclass(frozen=True)
class VAEConfig:
    """``ddconfig`` of the original autoencoder; the defaults are the SD1/SD2/SDXL VAE."""

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    in_channels: int = 3
    out_ch: int = 3
    z_channels: int = 4
    norm_groups: int = 32
    norm_eps: float = 1e-6

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


def _norm(cfg: VAEConfig, channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(cfg.norm_groups, channels, eps=cfg.norm_eps)


class ResnetBlock(nn.Module):
    def __init__(self, cfg: VAEConfig, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = _norm(cfg, in_channels)
        self.conv1 = FastConv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(cfg, out_channels)
        self.conv2 = FastConv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        shortcut = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return shortcut + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1-conv projections."""

    def __init__(self, cfg: VAEConfig, channels: int) -> None:
        super().__init__()
        self.norm = _norm(cfg, channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, height, width = x.shape
        h = self.norm(x)
        q, k, v = (
            proj(h).reshape(b, 1, c, height * width).transpose(2, 3)
            for proj in (self.q, self.k, self.v)
        )
        # q, k, v: (B, 1, H*W, C)
        h = F.scaled_dot_product_attention(q, k, v)  # (B, 1, H*W, C)
        h = h.transpose(2, 3).reshape(b, c, height, width)  # (B, C, H, W)
        return x + self.proj_out(h)


class Downsample(nn.Module):
    """Pad right/bottom by one, then a stride-2 3x3 convolution (asymmetric, as in the original)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # (B, C, H/2, W/2)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = FastConv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))  # (B, C, 2H, 2W)


class _Mid(nn.Module):
    def __init__(self, cfg: VAEConfig, channels: int) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(cfg, channels, channels)
        self.attn_1 = AttnBlock(cfg, channels)
        self.block_2 = ResnetBlock(cfg, channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class _Level(nn.Module):
    """One resolution level: ``block`` (ResnetBlocks), empty ``attn``, optional resampler."""

    def __init__(self, blocks: list[ResnetBlock], resample: nn.Module | None, name: str) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList()
        if resample is not None:
            self.add_module(name, resample)
        self._resample_name = name

    def forward(self, x: Tensor) -> Tensor:
        for block in self.block:
            x = block(x)
        resample = getattr(self, self._resample_name, None)
        return x if resample is None else resample(x)


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        levels = []
        ch = cfg.ch
        for i, mult in enumerate(cfg.ch_mult):
            out = cfg.ch * mult
            blocks = [
                ResnetBlock(cfg, ch if j == 0 else out, out) for j in range(cfg.num_res_blocks)
            ]
            ch = out
            last = i == len(cfg.ch_mult) - 1
            levels.append(_Level(blocks, None if last else Downsample(ch), "downsample"))
        self.down = nn.ModuleList(levels)
        self.mid = _Mid(cfg, ch)
        self.norm_out = _norm(cfg, ch)
        self.conv_out = nn.Conv2d(ch, 2 * cfg.z_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 2z, H/f, W/f)


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch = cfg.ch * cfg.ch_mult[-1]
        self.conv_in = nn.Conv2d(cfg.z_channels, ch, 3, padding=1)
        self.mid = _Mid(cfg, ch)
        levels: list[_Level] = []
        for i in reversed(range(len(cfg.ch_mult))):
            out = cfg.ch * cfg.ch_mult[i]
            blocks = [
                ResnetBlock(cfg, ch if j == 0 else out, out) for j in range(cfg.num_res_blocks + 1)
            ]
            ch = out
            levels.insert(0, _Level(blocks, Upsample(ch) if i else None, "upsample"))
        self.up = nn.ModuleList(levels)  # up[0] is the full-resolution level, as in the checkpoint
        self.norm_out = _norm(cfg, ch)
        self.conv_out = nn.Conv2d(ch, cfg.out_ch, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 3, H, W)


class AutoencoderKL(nn.Module):
    """``encode`` pixels (B, 3, H, W) in [-1, 1] to raw latents (B, 4, H/8, W/8); ``decode``."""

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        z = self.config.z_channels
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.quant_conv = nn.Conv2d(2 * z, 2 * z, 1)
        self.post_quant_conv = nn.Conv2d(z, z, 1)

    def encode_moments(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, std) of the diagonal Gaussian posterior, each (B, z, H/8, W/8)."""
        moments = self.quant_conv(self.encoder(pixels))  # (B, 2z, H/8, W/8)
        mean, logvar = moments.chunk(2, dim=1)
        return mean, torch.exp(0.5 * logvar.clamp(-30.0, 20.0))

    def encode(
        self, pixels: Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        """Posterior mean, or a sample drawn with ``generator`` when ``sample`` is true."""
        mean, std = self.encode_moments(pixels)
        if not sample:
            return mean
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + std * noise

    def decode(self, latents: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(latents))
