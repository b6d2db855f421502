"""Where each component goes in a single-file checkpoint, and ComfyUI's extra keys.

A saved checkpoint uses the original single-file layout our loader (and ComfyUI) reads: the UNet
under ``model.diffusion_model.``, the VAE under ``first_stage_model.``, each text encoder under
its family's prefix (``cond_stage_model.transformer.`` for SD1's CLIP-L,
``cond_stage_model.model.`` for SD2's OpenCLIP ViT-H, ``conditioner.embedders.0.transformer.``
and ``conditioner.embedders.1.model.`` for SDXL's CLIP-L and bigG,
``conditioner.embedders.0.model.`` for the SDXL refiner's bigG). Our module parameter names are
the file keys minus these prefixes.

ComfyUI marks a v-prediction model with an empty ``v_pred`` tensor and a zero-terminal-SNR one
with an empty ``ztsnr`` tensor, and writes ``modelspec.*`` metadata: ``predict_key``
(``epsilon`` / ``v``) always, the architecture, title and spec version for SDXL base and refiner
only.

A text encoder on its own (CLIPSave, a LoRA's text-encoder keys) is written as ComfyUI keeps
it: transformers ``CLIPTextModel`` keys (``text_model.…``), OpenCLIP towers converted
(:func:`text_encoder_views`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import torch
from torch import Tensor, nn

from diffusion.loading.checkpoint import V_PRED_KEY, ZSNR_KEY
from diffusion.loading.detect import TEXT_SLOTS, UNET_PREFIX, VAE_PREFIX
from diffusion.loading.diffusers_keys import open_clip_to_hf
from diffusion.text.clip import OpenCLIPTextModel
from diffusion.unet.config import Family

SamplingPrediction = Literal["eps", "v_prediction"]
_ARCHITECTURES: dict[str, str] = {
    "sdxl": "stable-diffusion-xl-v1-base",
    "sdxl_refiner": "stable-diffusion-xl-v1-refiner",
}


def text_prefix(family: Family, name: str) -> str:
    """The file prefix of text encoder ``name`` (``clip_l`` / ``clip_h`` / ``clip_g``) in a
    ``family`` checkpoint."""
    slots = TEXT_SLOTS.get(family, ())
    for slot in slots:
        if slot.name == name:
            return slot.prefix
    raise ValueError(f"a {family} checkpoint has no text encoder {name!r}; it has "
                     f"{[slot.name for slot in slots]}")


def text_encoder_views(module: nn.Module) -> Iterator[tuple[str, Tensor]]:
    """A text encoder's tensors under transformers keys: CLIP-L's are ours already, an OpenCLIP
    tower's are converted (``open_clip_to_hf``; views, no copies)."""
    state = module.state_dict()
    if isinstance(module, OpenCLIPTextModel):
        yield from open_clip_to_hf(state)
    else:
        yield from state.items()


def marker_tensors(prediction: SamplingPrediction, zsnr: bool) -> dict[str, Tensor]:
    """ComfyUI's marker keys: ``v_pred`` for v-prediction, ``ztsnr`` for zero terminal SNR.

    ComfyUI writes ``ztsnr`` only next to ``v_pred`` (and reads it only there); it is written
    here whenever the model has zsnr, so an eps + zsnr model reloads as such in this engine
    (ComfyUI ignores the extra key).
    """
    if prediction not in ("eps", "v_prediction"):
        raise ValueError(f"prediction {prediction!r}: choose 'eps' or 'v_prediction'")
    markers: dict[str, Tensor] = {}
    if prediction == "v_prediction":
        markers[V_PRED_KEY] = torch.tensor([])
    if zsnr:
        markers[ZSNR_KEY] = torch.tensor([])
    return markers


def modelspec(family: Family, prediction: SamplingPrediction, title: str) -> dict[str, str]:
    """The ``modelspec.*`` metadata ComfyUI writes with a saved checkpoint."""
    meta: dict[str, str] = {}
    architecture = _ARCHITECTURES.get(family)
    if architecture is not None:
        meta["modelspec.architecture"] = architecture
        meta["modelspec.sai_model_spec"] = "1.0.0"
        meta["modelspec.implementation"] = "sgm"
        meta["modelspec.title"] = title
    meta["modelspec.predict_key"] = "v" if prediction == "v_prediction" else "epsilon"
    return meta


__all__ = ["UNET_PREFIX", "VAE_PREFIX", "SamplingPrediction", "marker_tensors", "modelspec",
           "text_encoder_views", "text_prefix"]
