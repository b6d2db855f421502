"""IPAdapter, IPAdapterAdvanced and IPAdapterEmbeds (the IPAdapter plugin's apply nodes,
declared as it declares them so shared workflows load). Each returns a new MODEL whose hooks
run the adapter in the UNet's cross-attention layers; several adapters stack."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from diffusion.ipadapter import COMBINE_METHODS, EMBEDS_SCALING, WEIGHT_TYPES, AdapterImages
from nodes.api import CLIP_VISION as CLIP_VISION_SOCKET
from nodes.api import IMAGE, MASK, MODEL, Combo, Float, Link, Node, Output, RunContext
from nodes.ipadapter.execute import Request, apply_ipadapter, image_inputs, zero_image
from nodes.ipadapter.sockets import EMBEDS, IPADAPTER
from nodes.payloads import DiffusionModel
from nodes.vision.encode import encode_image
from nodes.vision_payloads import ClipVision, IPAdapter

CATEGORY = "ipadapter"
SIMPLE_WEIGHT_TYPES = ("standard", "prompt is more important", "style transfer")


def _weight(maximum: float) -> Float:
    return Float("weight", default=1.0, min=-1, max=maximum, step=0.05,
                 tooltip="How strongly the images condition (0: no effect).")


def _percent(name: str, default: float, tip: str) -> Float:
    return Float(name, default=default, min=0.0, max=1.0, step=0.001, tooltip=tip)


START = _percent("start_at", 0.0, "Fraction of the sampling run where the adapter starts.")
END = _percent("end_at", 1.0, "Fraction of the sampling run where the adapter stops.")
WEIGHT_TYPE = Combo("weight_type", choices=WEIGHT_TYPES,
                    tooltip="How the weight varies over the UNet's layers.")
SCALING = Combo("embeds_scaling", choices=EMBEDS_SCALING,
                tooltip="Which attention terms the weight scales (C penalty: by layer width).")
ATTN_MASK = Link("attn_mask", MASK, optional=True,
                 tooltip="Where in the image the adapter acts (resized to each layer).")
CLIP_VISION = Link("clip_vision", CLIP_VISION_SOCKET, optional=True,
                   tooltip="The CLIP vision model (else the one of the unified loader).")


def _mask(mask: Tensor | None) -> Tensor | None:
    return None if mask is None else (mask.unsqueeze(0) if mask.ndim == 2 else mask)


def _adapter(node: str, ipadapter: IPAdapter, clip_vision: ClipVision | None
             ) -> tuple[IPAdapter, ClipVision | None]:
    if not isinstance(ipadapter, IPAdapter):
        raise TypeError(f"{node} input 'ipadapter': expected an IPADAPTER, got "
                        f"{type(ipadapter).__name__}")
    return ipadapter, clip_vision if clip_vision is not None else ipadapter.clip_vision


class IPAdapterSimple(Node):
    """Applies an IP-Adapter loaded with IPAdapterUnifiedLoader: the model follows the
    reference images (standard), lets the prompt lead (ease out) or takes only their style."""

    type_name = "IPAdapter"
    display_name = "IPAdapter"
    category = CATEGORY
    inputs = (
        Link("model", MODEL, tooltip="The model to patch."),
        Link("ipadapter", IPADAPTER, tooltip="From IPAdapterUnifiedLoader."),
        Link("image", IMAGE, tooltip="The reference images."),
        _weight(3), START, END,
        Combo("weight_type", choices=SIMPLE_WEIGHT_TYPES, tooltip="How the weight is spread."),
        ATTN_MASK,
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, ipadapter: IPAdapter, image: Tensor,
            weight: float, start_at: float, end_at: float, weight_type: str,
            attn_mask: Tensor | None = None) -> tuple[Any, ...]:
        kind = ("style transfer" if weight_type.startswith("style") else
                "ease out" if weight_type == "prompt is more important" else "linear")
        ipadapter, clip_vision = _adapter("IPAdapter", ipadapter, None)
        if clip_vision is None:
            raise ValueError("IPAdapter: CLIPVision model not present in the pipeline; load the "
                             "models with the IPAdapterUnifiedLoader node")
        images = image_inputs(ctx, ipadapter, clip_vision, image, None)
        request = Request(weight, kind, "concat", start_at, end_at, "V only", _mask(attn_mask))
        return (apply_ipadapter(ctx, model, ipadapter, images, request),)


class IPAdapterAdvanced(Node):
    """Applies an IP-Adapter with every option: weight type over the layers, how several
    images combine, the negative image, the part of the run, embeds scaling and a mask."""

    display_name = "IPAdapter Advanced"
    category = CATEGORY
    inputs = (
        Link("model", MODEL, tooltip="The model to patch."),
        Link("ipadapter", IPADAPTER, tooltip="The IP-Adapter."),
        Link("image", IMAGE, tooltip="The reference images."),
        _weight(5), WEIGHT_TYPE,
        Combo("combine_embeds", choices=COMBINE_METHODS,
              tooltip="How several images combine (concat: all their tokens)."),
        START, END, SCALING,
        Link("image_negative", IMAGE, optional=True,
             tooltip="What the negative side sees (default: nothing)."),
        ATTN_MASK, CLIP_VISION,
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, ipadapter: IPAdapter, image: Tensor,
            weight: float, weight_type: str, combine_embeds: str, start_at: float,
            end_at: float, embeds_scaling: str, image_negative: Tensor | None = None,
            attn_mask: Tensor | None = None,
            clip_vision: ClipVision | None = None) -> tuple[Any, ...]:
        ipadapter, vision = _adapter("IPAdapterAdvanced", ipadapter, clip_vision)
        images = image_inputs(ctx, ipadapter, vision, image, image_negative)
        request = Request(weight, weight_type, combine_embeds, start_at, end_at, embeds_scaling,
                          _mask(attn_mask))
        return (apply_ipadapter(ctx, model, ipadapter, images, request),)


class IPAdapterEmbeds(Node):
    """Applies an IP-Adapter to embeddings made by IPAdapterEncoder (or combined, or saved)."""

    display_name = "IPAdapter Embeds"
    category = "ipadapter/embeds"
    inputs = (
        Link("model", MODEL, tooltip="The model to patch."),
        Link("ipadapter", IPADAPTER, tooltip="The IP-Adapter."),
        Link("pos_embed", EMBEDS, tooltip="The positive embeddings."),
        _weight(3), WEIGHT_TYPE, START, END, SCALING,
        Link("neg_embed", EMBEDS, optional=True, tooltip="The negative embeddings."),
        ATTN_MASK, CLIP_VISION,
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, ipadapter: IPAdapter,
            pos_embed: Tensor, weight: float, weight_type: str, start_at: float, end_at: float,
            embeds_scaling: str, neg_embed: Tensor | None = None,
            attn_mask: Tensor | None = None,
            clip_vision: ClipVision | None = None) -> tuple[Any, ...]:
        ipadapter, vision = _adapter("IPAdapterEmbeds", ipadapter, clip_vision)
        if vision is None and neg_embed is None:
            raise ValueError("IPAdapterEmbeds: Missing CLIPVision model (wire clip_vision or "
                             "neg_embed)")
        if neg_embed is None:
            if ipadapter.config.uses_hidden_states:
                assert vision is not None
                neg_embed = encode_image(ctx, vision, zero_image(vision)).penultimate_hidden_states
            else:
                neg_embed = torch.zeros_like(pos_embed)
        request = Request(weight, weight_type, "concat", start_at, end_at, embeds_scaling,
                          _mask(attn_mask))
        return (apply_ipadapter(ctx, model, ipadapter, AdapterImages(pos_embed, neg_embed),
                                request),)
