"""SDXL's ADM ("label_emb") input per conditioning entry: pooled text + Fourier micro-conditions.

As ComfyUI's ``SDXL.encode_adm`` / ``SDXLRefiner.encode_adm``: base = pooled, then 256-d
embeddings of (height, width, crop_h, crop_w, target_height, target_width); refiner = pooled, then
(height, width, crop_h, crop_w, aesthetic_score). Width/height default to the latent size x 8
(what a plain CLIPTextEncode gives), targets to width/height, the aesthetic score to 6 for the
positive side and 2.5 for the negative.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

from diffusion.guidance.cond import Cond
from diffusion.unet.model import sdxl_adm

AdmKind = Literal["none", "sdxl", "sdxl_refiner"]
Side = Literal["positive", "negative"]

REFINER_AESTHETIC_POSITIVE = 6.0
REFINER_AESTHETIC_NEGATIVE = 2.5


def sdxl_micro_conditions(
    cond: Cond, kind: AdmKind, side: Side, latent_height: int, latent_width: int
) -> list[float]:
    """The micro-condition values of ``cond`` in the model's order (ComfyUI's defaults filled)."""
    width = cond.width if cond.width is not None else latent_width * 8
    height = cond.height if cond.height is not None else latent_height * 8
    values = [float(height), float(width), float(cond.crop_h), float(cond.crop_w)]
    if kind == "sdxl":
        target_w = cond.target_width if cond.target_width is not None else width
        target_h = cond.target_height if cond.target_height is not None else height
        return values + [float(target_h), float(target_w)]
    if kind == "sdxl_refiner":
        default = REFINER_AESTHETIC_NEGATIVE if side == "negative" else REFINER_AESTHETIC_POSITIVE
        score = cond.aesthetic_score if cond.aesthetic_score is not None else default
        return values + [float(score)]
    raise ValueError(f"adm kind {kind!r} has no micro-conditions; choose 'sdxl' or 'sdxl_refiner'")


def encode_adm(
    cond: Cond, kind: AdmKind, side: Side, latent_height: int, latent_width: int
) -> Tensor | None:
    """The (b, pooled + 256 * n) ADM vector of ``cond``, or None for models without ADM."""
    if kind not in get_args(AdmKind):
        raise ValueError(f"adm must be one of {get_args(AdmKind)}, got {kind!r}")
    if kind == "none":
        return None
    if cond.pooled_output is None:
        raise ValueError(
            f"adm={kind!r} needs pooled_output on every conditioning entry; got None "
            "(encode the prompt with the model's CLIP, or use ConditioningZeroOut)"
        )
    pooled = cond.pooled_output.float()  # (b, P)
    values = sdxl_micro_conditions(cond, kind, side, latent_height, latent_width)
    micro = [torch.full((pooled.shape[0],), v, device=pooled.device) for v in values]
    return sdxl_adm(pooled, micro)  # (b, P + 256 * len(values))
