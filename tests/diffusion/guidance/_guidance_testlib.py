"""Toy networks, tiny UNet configs and conditioning makers for the guidance tests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from diffusion.guidance import Cond, GuidedModel
from diffusion.latent_format import SD15, SDXL
from diffusion.sampling import ModelSamplingDiscrete
from diffusion.unet import UNetConfig, UNetModel

POOLED = 16


@dataclass
class Call:
    x_in: Tensor
    timesteps: Tensor
    context: Tensor
    kwargs: dict[str, Any]


@dataclass
class ToyUNet:
    """A linear "network": eps = scale * x_in[:, :4] + context[:, 0, 0] (+ y[:, 0]).

    Each row's output depends on its own context's first element only, so the expected
    guidance can be computed by hand. Records every call.
    """

    scale: float = 0.5
    calls: list[Call] = field(default_factory=list)

    def __call__(self, x_in: Tensor, timesteps: Tensor, context: Tensor, **kwargs: Any) -> Tensor:
        self.calls.append(Call(x_in.clone(), timesteps.clone(), context.clone(), kwargs))
        shift = context[:, 0, 0].reshape(-1, 1, 1, 1)  # (B, 1, 1, 1)
        if kwargs.get("y") is not None:
            shift = shift + kwargs["y"][:, 0].reshape(-1, 1, 1, 1)  # (B, 1, 1, 1)
        return x_in[:, :4] * self.scale + shift

    @property
    def rows(self) -> list[int]:
        return [c.x_in.shape[0] for c in self.calls]


def text(value: float, tokens: int = 3, channels: int = 8, **fields: Any) -> Cond:
    """A Cond whose encoding is the constant ``value`` (what ToyUNet reads)."""
    return Cond(torch.full((1, tokens, channels), float(value)), **fields)


def toy_model(unet: ToyUNet | None = None, **fields: Any) -> GuidedModel:
    return GuidedModel(unet or ToyUNet(), ModelSamplingDiscrete(), SD15, **fields)


def tiny_config(kind: str = "sd1") -> UNetConfig:
    """A few-thousand-parameter LDM UNet of each family's shape (attention included)."""
    base: dict[str, Any] = {
        "in_channels": 9 if kind == "sd1_inpaint" else 4,
        "out_channels": 4,
        "model_channels": 16,
        "channel_mult": (1, 2),
        "num_res_blocks": (1, 1),
        "transformer_depth": (1, 1),
        "transformer_depth_output": (1, 1, 1, 1),
        "transformer_depth_middle": 1,
        "norm_groups": 8,
    }
    if kind in ("sd1", "sd1_inpaint"):
        return UNetConfig(**base, context_dim=24, num_heads=2)
    if kind == "sdxl":
        return UNetConfig(
            **base,
            context_dim=32,
            num_head_channels=8,
            use_linear_in_transformer=True,
            adm_in_channels=POOLED + 6 * 256,
        )
    raise ValueError(kind)


def tiny_unet(kind: str = "sd1", seed: int = 0) -> UNetModel:
    """Seeded random weights (nothing left at its zero/one init)."""
    unet = UNetModel(tiny_config(kind)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in unet.parameters():
            noise = torch.randn(param.shape, generator=gen)
            fan_in = math.prod(param.shape[1:]) if param.ndim >= 2 else 4
            param.copy_(noise / math.sqrt(fan_in))
    return unet


def tiny_model(kind: str = "sd1", seed: int = 0) -> GuidedModel:
    unet = tiny_unet(kind, seed)
    fmt = SDXL if kind == "sdxl" else SD15
    adm = "sdxl" if kind == "sdxl" else None
    return GuidedModel.from_unet(unet, ModelSamplingDiscrete(), fmt, adm=adm)


def counting(module: nn.Module) -> list[tuple[int, ...]]:
    """Records the input shape of every forward of ``module``."""
    shapes: list[tuple[int, ...]] = []
    module.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape)))
    return shapes
