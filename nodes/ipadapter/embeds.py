"""IPAdapterEncoder and IPAdapterCombineEmbeds (the IPAdapter plugin's embeds helpers)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from diffusion.ipadapter import COMBINE_METHODS, combine_embeds
from nodes.api import CLIP_VISION as CLIP_VISION_SOCKET
from nodes.api import IMAGE, MASK, Combo, Float, Link, Node, Output, RunContext
from nodes.ipadapter.execute import zero_image
from nodes.ipadapter.sockets import EMBEDS, IPADAPTER
from nodes.vision.encode import encode_image
from nodes.vision_payloads import ClipVision, IPAdapter

CATEGORY = "ipadapter/embeds"
COMBINE_ALL = (*COMBINE_METHODS, "max", "min")


def clip_mask(mask: Tensor, size: int) -> Tensor:
    """The plugin's encoder mask: centre-cropped to a square, resized to ``size`` (bicubic,
    antialiased) unless already ``size`` x ``size``: (B, size, size)."""
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if tuple(mask.shape[1:3]) == (size, size):
        return mask.float()
    side = min(mask.shape[1], mask.shape[2])
    top = int(round((mask.shape[1] - side) / 2.0))
    left = int(round((mask.shape[2] - side) / 2.0))
    square = mask[:, top:top + side, left:left + side].float().unsqueeze(1)  # (B, 1, s, s)
    resized = F.interpolate(square, size=(size, size), mode="bicubic", antialias=True)
    return resized.squeeze(1)


class IPAdapterEncoder(Node):
    """Encodes reference images into the embeddings an IP-Adapter reads (image embeddings,
    or hidden states for plus and full-face adapters), with an optional mask and weight."""

    display_name = "IPAdapter Encoder"
    category = CATEGORY
    inputs = (
        Link("ipadapter", IPADAPTER, tooltip="The IP-Adapter (it decides what is encoded)."),
        Link("image", IMAGE, tooltip="The reference images."),
        Float("weight", default=1.0, min=-1.0, max=3.0, step=0.01,
              tooltip="Multiplies the positive embeddings."),
        Link("mask", MASK, optional=True, tooltip="Multiplies the CLIP input pixels."),
        Link("clip_vision", CLIP_VISION_SOCKET, optional=True,
             tooltip="The CLIP vision model (else the one of the unified loader)."),
    )
    outputs = (Output(EMBEDS, "pos_embed"), Output(EMBEDS, "neg_embed"))

    def run(self, ctx: RunContext, ipadapter: IPAdapter, image: Tensor, weight: float,
            mask: Tensor | None = None,
            clip_vision: ClipVision | None = None) -> tuple[Any, ...]:
        vision = clip_vision if clip_vision is not None else ipadapter.clip_vision
        if vision is None:
            raise ValueError("IPAdapterEncoder: Missing CLIPVision model (wire clip_vision, or "
                             "load the adapter with IPAdapterUnifiedLoader)")
        size = vision.config.image_size
        pixels_mask = None if mask is None else clip_mask(mask, size)
        encoded = encode_image(ctx, vision, image, mask=pixels_mask)
        if ipadapter.config.uses_hidden_states:
            cond = encoded.penultimate_hidden_states
            uncond = encode_image(ctx, vision, zero_image(vision)).penultimate_hidden_states
        else:
            cond = encoded.image_embeds
            uncond = torch.zeros_like(cond)
        return (cond * weight if weight != 1 else cond, uncond)


class IPAdapterCombineEmbeds(Node):
    """Combines up to five embeddings: concatenated, added, subtracted (first minus the mean
    of the others), averaged, norm-averaged, or their element-wise max or min."""

    display_name = "IPAdapter Combine Embeds"
    category = CATEGORY
    inputs = (
        Link("embed1", EMBEDS, tooltip="The first embeddings."),
        Combo("method", choices=COMBINE_ALL, tooltip="How to combine them."),
        *(Link(f"embed{i}", EMBEDS, optional=True, tooltip="More embeddings.")
          for i in range(2, 6)),
    )
    outputs = (Output(EMBEDS),)

    def run(self, ctx: RunContext, embed1: Tensor, method: str, embed2: Tensor | None = None,
            embed3: Tensor | None = None, embed4: Tensor | None = None,
            embed5: Tensor | None = None) -> tuple[Any, ...]:
        given = [e for e in (embed1, embed2, embed3, embed4, embed5) if e is not None]
        if method == "concat" and len(given) == 1:
            return (embed1,)
        embeds = torch.cat(given, dim=0)
        if method == "max":
            return (embeds.max(dim=0).values.unsqueeze(0),)
        if method == "min":
            return (embeds.min(dim=0).values.unsqueeze(0),)
        return (combine_embeds(embeds, method),)
