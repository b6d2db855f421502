"""The IPAdapter plugin's ``ipadapter_execute`` on our MODEL payload: encode the images (or take
the embeds), combine them, project them with the adapter (resident only while projecting) and
add the attention processor to the model's hooks (a new payload; the input MODEL is
unchanged)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.ipadapter import (
    AdapterImages,
    Application,
    WeightSchedule,
    attention_processor,
    check_fits,
    combine_embeds,
    cross_attention_slots,
    spatial_transformer_count,
)
from diffusion.ipadapter.attention import to_size
from diffusion.loading.checkpoint import OpenedCheckpoint
from diffusion.unet.config import UNetConfig
from diffusion.unet.model import UNetModel
from nodes.api import RunContext
from nodes.payloads import DiffusionModel
from nodes.vision.encode import encode_image
from nodes.vision_payloads import ClipVision, IPAdapter

SDXL_FAMILIES = ("sdxl", "sdxl_refiner")


def unet_config(model: DiffusionModel) -> UNetConfig:
    """The UNet's configuration, read from its opened file (no weights)."""
    opened = model.unet.opened
    if isinstance(opened, OpenedCheckpoint):
        return opened.layout.unet
    empty = getattr(opened, "empty", None)
    module = empty(model.unet.component) if callable(empty) else None
    if not isinstance(module, UNetModel):
        raise TypeError(f"{model.unet.key.path}: cannot read the UNet's configuration")
    return module.config


@dataclass(frozen=True)
class Request:
    """One adapter application, as the plugin's nodes pass it."""

    weight: float = 1.0
    weight_type: str = "linear"
    combine_embeds: str = "concat"
    start_at: float = 0.0
    end_at: float = 1.0
    embeds_scaling: str = "V only"
    attn_mask: Tensor | None = None


def zero_image(clip_vision: ClipVision) -> Tensor:
    size = clip_vision.config.image_size
    return torch.zeros(1, size, size, 3)


def image_inputs(ctx: RunContext, ipadapter: IPAdapter, clip_vision: ClipVision | None,
                 image: Tensor, negative: Tensor | None) -> AdapterImages:
    """The adapter's CLIP inputs for images: penultimate hidden states (plus, full-face) or
    image embeddings (base); the negative is ``negative`` encoded, else a black image's hidden
    states (plus) or zeros (base)."""
    if clip_vision is None:
        raise ValueError("Missing CLIPVision model: wire clip_vision, or load the adapter "
                         "with IPAdapterUnifiedLoader")
    if ipadapter.config.uses_hidden_states:
        cond = encode_image(ctx, clip_vision, image).penultimate_hidden_states
        black = negative if negative is not None else zero_image(clip_vision)
        return AdapterImages(cond, encode_image(ctx, clip_vision, black).penultimate_hidden_states)
    embeds = encode_image(ctx, clip_vision, image).image_embeds
    uncond = (encode_image(ctx, clip_vision, negative).image_embeds if negative is not None
              else torch.zeros_like(embeds))
    return AdapterImages(embeds, uncond)


def apply_ipadapter(ctx: RunContext, model: DiffusionModel, ipadapter: IPAdapter,
                    images: AdapterImages, request: Request) -> DiffusionModel:
    """``model`` with the adapter's processor added to its hooks."""
    cfg = unet_config(model)
    slots = cross_attention_slots(cfg)
    check_fits(ipadapter.config, slots, cfg.context_dim,
               f"IPAdapter {ipadapter.handle.key.path!r}")
    cond, uncond = images.cond, to_size(images.uncond, images.cond.shape[0])
    if request.combine_embeds != "concat" and cond.shape[0] > 1:
        cond, uncond = combine_embeds(cond, request.combine_embeds), uncond[:1]
    schedule = WeightSchedule(request.weight, request.weight_type,
                              spatial_transformer_count(cfg), model.family in SDXL_FAMILIES)
    sampling = model.model_sampling
    how = Application(schedule, sampling.percent_to_sigma(request.start_at),
                      sampling.percent_to_sigma(request.end_at), request.embeds_scaling,
                      request.attn_mask)
    with ctx.models.use(ipadapter.handle) as adapter:
        processor = attention_processor(adapter, AdapterImages(cond, uncond), slots, how,
                                        ctx.models.device)
    return dataclasses.replace(model, hooks=model.hooks.plus(attention=(processor,)))
