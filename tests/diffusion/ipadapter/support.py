"""Tiny UNets and IP-Adapters for the IP-Adapter tests (every parameter randomised)."""

from __future__ import annotations

from typing import Any

import torch

from diffusion.ipadapter import (
    AdapterImages,
    Application,
    IPAdapterConfig,
    IPAdapterModel,
    WeightSchedule,
    attention_processor,
    cross_attention_slots,
)
from diffusion.ipadapter.model import ResamplerConfig
from diffusion.unet import UNetConfig
from tests.diffusion.conftest import randomize_parameters

SD1_TINY = UNetConfig(
    in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2, 2),
    num_res_blocks=(2, 2, 2), transformer_depth=(1, 1, 1, 1, 0, 0),
    transformer_depth_output=(0, 0, 0, 1, 1, 1, 1, 1, 1), transformer_depth_middle=1,
    context_dim=24, num_heads=8)
SDXL_TINY = UNetConfig(
    in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2, 2),
    num_res_blocks=(2, 2, 2), transformer_depth=(0, 0, 1, 1, 2, 2),
    transformer_depth_output=(2, 2, 2, 1, 1, 1, 0, 0, 0), transformer_depth_middle=2,
    context_dim=48, num_head_channels=8, use_linear_in_transformer=True,
    adm_in_channels=16 + 6 * 256)
CLIP_DIM = 40  # image_embeds width (base adapters)
HIDDEN_DIM = 56  # penultimate hidden state width (plus, full)
PATCHES = 5  # hidden-state tokens per image


def adapter_config(kind: str, unet: UNetConfig) -> IPAdapterConfig:
    layers = tuple((s.key, s.inner) for s in cross_attention_slots(unet))
    if kind == "base":
        return IPAdapterConfig("base", CLIP_DIM, unet.context_dim, 4, layers)
    if kind == "full":
        return IPAdapterConfig("full", HIDDEN_DIM, unet.context_dim, None, layers)
    resampler = ResamplerConfig(dim=64, depth=4, heads=1, num_queries=6, ff_mult=4)
    return IPAdapterConfig("plus", HIDDEN_DIM, unet.context_dim, 6, layers, resampler)


def make_adapter(kind: str, unet: UNetConfig, seed: int) -> IPAdapterModel:
    model = IPAdapterModel(adapter_config(kind, unet)).eval()
    randomize_parameters(model, seed)
    return model


def original_state(model: IPAdapterModel) -> dict[str, dict[str, torch.Tensor]]:
    """The adapter as the original ``.bin`` nests it."""
    out: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
    for key, value in model.state_dict().items():
        part, _, rest = key.partition(".")
        out[part][rest] = value.clone()
    return out


def clip_inputs(kind: str, images: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if kind == "base":
        return torch.randn(images, CLIP_DIM, generator=gen)
    return torch.randn(images, PATCHES, HIDDEN_DIM, generator=gen)


def processor(model: IPAdapterModel, unet: UNetConfig, cond: torch.Tensor,
              uncond: torch.Tensor, **how: Any):
    schedule = WeightSchedule(how.pop("weight", 1.0), how.pop("weight_type", "linear"),
                              how.pop("layers", 16), how.pop("sdxl", False))
    return attention_processor(model, AdapterImages(cond, uncond), cross_attention_slots(unet),
                               Application(schedule, **how))
