"""SDXL's ADM ("label_emb") input per conditioning entry: pooled text + Fourier micro-conditions.

As ComfyUI's ``SDXL.encode_adm`` / ``SDXLRefiner.encode_adm``: base = pooled, then 256-d
embeddings of (height, width, crop_h, crop_w, target_height, target_width); refiner = pooled, then
(height, width, crop_h, crop_w, aesthetic_score). Width/height default to the latent size x 8
(what a plain CLIPTextEncode gives), targets to width/height, the aesthetic score to 6 for the
positive side and 2.5 for the negative.

unCLIP conditioning (``diffusion.guidance.unclip``): an SD2.1 unCLIP model (``"unclip"``) takes
the noise-augmented image embeddings (zeros without them) as its whole ADM input; SDXL and the
refiner take them in place of the pooled text embedding (Revision).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

from diffusion.guidance.cond import Cond
from diffusion.guidance.unclip import AdmNoise, unclip_adm, zero_adm
from diffusion.unet.model import sdxl_adm

AdmKind = Literal["none", "sdxl", "sdxl_refiner", "unclip"]
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
    cond: Cond, kind: AdmKind, side: Side, latent_height: int, latent_width: int,
    noise: AdmNoise | None = None,
) -> Tensor | None:
    """The (b, adm) ADM vector of ``cond``, or None for models without ADM. ``noise`` (the
    model's unCLIP noise augmentation and the run's seed) is needed by ``"unclip"`` models and
    by SDXL entries with unCLIP conditioning."""
    if kind not in get_args(AdmKind):
        raise ValueError(f"adm must be one of {get_args(AdmKind)}, got {kind!r}")
    if kind == "none":
        return None
    if kind == "unclip":
        noise = _need_noise(noise, kind)
        return unclip_adm(cond.unclip, noise) if cond.unclip else zero_adm(noise)
    if cond.unclip:
        noise = _need_noise(noise, kind)
        pooled = unclip_adm(cond.unclip, noise)[:, :noise.augmentor.dim]  # (1, 1280)
    elif cond.pooled_output is None:
        raise ValueError(
            f"adm={kind!r} needs pooled_output on every conditioning entry; got None "
            "(encode the prompt with the model's CLIP, or use ConditioningZeroOut)"
        )
    else:
        pooled = cond.pooled_output.float()  # (b, P)
    values = sdxl_micro_conditions(cond, kind, side, latent_height, latent_width)
    micro = [torch.full((pooled.shape[0],), v, device=pooled.device) for v in values]
    return sdxl_adm(pooled, micro)  # (b, P + 256 * len(values))


def _need_noise(noise: AdmNoise | None, kind: AdmKind) -> AdmNoise:
    if noise is None:
        raise ValueError(f"adm={kind!r}: unCLIP conditioning needs the model's noise "
                         "augmentation and the run's seed (GuidedModel.adm_noise), got None")
    return noise
