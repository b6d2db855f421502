"""Payloads of the model, text and latent sockets: small frozen dataclasses, never mutated.

A node derives a new payload with ``dataclasses.replace``; cached upstream values are shared
between jobs, so nothing here is ever written to in place. Model payloads hold handles
(``diffusion.memory.ModelHandle``), never weights: they report ``nbytes == 0`` to the output
cache, and the weights are read by the ``ModelManager`` when a consumer uses the handle.

ComfyUI plugins expect a LATENT as ``{"samples": …, "noise_mask": …, "batch_index": […]}``;
:func:`to_comfy` / :func:`from_comfy` convert at that boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from diffusion.guidance import NO_HOOKS, GuidedModel, Guider, ModelHooks
from diffusion.guidance.adm import AdmKind
from diffusion.guidance.hooked import HookGroup
from diffusion.guidance.unclip import NoiseAugmentor
from diffusion.latent_format import LatentFormat
from diffusion.memory import ModelHandle
from diffusion.patching import PatchSet
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.text.prompt import TextTokenizer
from diffusion.unet.config import Family

_ADM: dict[str, AdmKind] = {"sdxl": "sdxl", "sdxl_refiner": "sdxl_refiner"}


@dataclass(frozen=True, eq=False)
class Latent:
    """A LATENT: raw VAE latents plus an optional inpainting mask and batch positions.

    samples: (B, 4, H/8, W/8) raw VAE latents (the model family's scale is applied by the
    sampler). noise_mask: (B or 1, 1, h, w) at any resolution, 1 where sampling may change the
    latent. batch_index: each sample's position in the original batch (seeds the noise).
    """

    samples: Tensor
    noise_mask: Tensor | None = None
    batch_index: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.samples.ndim != 4:
            raise ValueError(f"samples must be (B, C, H, W), got {tuple(self.samples.shape)}")
        if self.batch_index is not None and not isinstance(self.batch_index, tuple):
            raise TypeError(f"batch_index must be a tuple, got {type(self.batch_index).__name__}")

    @property
    def nbytes(self) -> int:
        mask = self.noise_mask.nbytes if self.noise_mask is not None else 0
        return int(self.samples.nbytes) + int(mask)

    def summary(self) -> str:
        mask = "" if self.noise_mask is None else f", mask {tuple(self.noise_mask.shape)}"
        return f"Latent{tuple(self.samples.shape)}{mask}"


def to_comfy(latent: Latent) -> dict[str, Any]:
    """ComfyUI's LATENT dict (keys present only when set). The tensors are shared, not copied."""
    out: dict[str, Any] = {"samples": latent.samples}
    if latent.noise_mask is not None:
        out["noise_mask"] = latent.noise_mask
    if latent.batch_index is not None:
        out["batch_index"] = list(latent.batch_index)
    return out


def from_comfy(value: Mapping[str, Any]) -> Latent:
    """A Latent from ComfyUI's LATENT dict; other keys are refused, not dropped silently."""
    if not isinstance(value, Mapping) or "samples" not in value:
        raise ValueError(f"a ComfyUI LATENT is a dict with 'samples'; got {type(value).__name__}")
    unknown = sorted(set(value) - {"samples", "noise_mask", "batch_index"})
    if unknown:
        raise ValueError(f"LATENT keys {unknown} have no Latent field")
    index = value.get("batch_index")
    return Latent(
        samples=value["samples"],
        noise_mask=value.get("noise_mask"),
        batch_index=None if index is None else tuple(int(i) for i in index),
    )


@dataclass(frozen=True, eq=False)
class DiffusionModel:
    """The MODEL payload: the UNet's handle and how to sample it.

    in_channels is 9 for inpainting UNets (latent + mask + masked-image latent). ``patches``:
    weight patches (LoRA …) applied when the UNet is made resident (the base module is never
    modified; the manager keeps one patched copy per patch set). ``hooks``: post-CFG functions,
    conditioning modifiers and attention processors applied while it is sampled. A patch node
    derives a new payload with ``dataclasses.replace``. ``noise_augmentor``: set for SD2.1
    unCLIP UNets (an SD2.x UNet with an ADM input), whose ADM input is the noise-augmented CLIP
    image embedding of unCLIPConditioning.
    """

    unet: ModelHandle
    model_sampling: ModelSampling
    latent_format: LatentFormat
    family: Family
    in_channels: int = 4
    patches: PatchSet = field(default=PatchSet.EMPTY)
    hooks: ModelHooks = NO_HOOKS
    noise_augmentor: NoiseAugmentor | None = None

    nbytes = 0  # a handle, not weights

    @property
    def adm(self) -> AdmKind:
        """The UNet's ADM input kind (SDXL micro-conditioning, SD2.1 unCLIP) for
        ``GuidedModel``."""
        if self.noise_augmentor is not None:
            return "unclip"
        return _ADM.get(self.family, "none")

    def summary(self) -> str:
        patches = f", {len(self.patches)} patches" if self.patches else ""
        return (f"DiffusionModel({self.family}, {self.model_sampling.summary()}{patches}, "
                f"{self.unet.key.path})")


class GuiderPayload(Protocol):
    """The GUIDER payload: the model a guider samples, and the guider itself once the model is
    resident (``bind`` gets it with its patches applied and its hooks)."""

    @property
    def model(self) -> DiffusionModel: ...

    def bind(self, model: GuidedModel) -> Guider: ...


@dataclass(frozen=True, eq=False)
class TextEncoderRef:
    """One text encoder of a CLIP payload and its family defaults (``diffusion.text.encode``).

    name: ``clip_l``, ``clip_h`` or ``clip_g``; layer: default output layer (-1 last, -2
    penultimate); final_norm: apply the final LayerNorm to it; pad: the window padding id;
    patches: weight patches (LoRA …) applied when the encoder is made resident.
    """

    name: str
    handle: ModelHandle
    layer: int
    final_norm: bool
    pad: int
    patches: PatchSet = field(default=PatchSet.EMPTY)


@dataclass(frozen=True, eq=False)
class Clip:
    """The CLIP payload: text-encoder handles (concatenation order), the tokenizer, the family,
    the "stop at layer" override (None: family defaults) and the embedding folders searched for
    ``embedding:NAME``.

    Weight hooks (SetClipHooks): ``hooks`` patch the encoders at each hook's ``strength_clip``
    while encoding (with ``schedule_hooks`` once per keyframe range, each range's entries
    limited to it; otherwise keyframes are ignored); ``cond_hooks`` are attached to every
    entry encoded (the sampler then evaluates those entries with the hooked diffusion model).
    """

    encoders: tuple[TextEncoderRef, ...]
    tokenizer: TextTokenizer
    family: Family
    stop_at_layer: int | None = None
    embedding_folders: tuple[Path, ...] = ()
    hooks: HookGroup | None = None
    schedule_hooks: bool = False
    cond_hooks: HookGroup | None = None

    nbytes = 0

    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.encoders)

    def summary(self) -> str:
        layer = "" if self.stop_at_layer is None else f", layer {self.stop_at_layer}"
        hooks = "" if not self.hooks else f", {len(self.hooks)} hooks"
        return f"Clip({self.family}, {'+'.join(self.names())}{layer}{hooks})"


@dataclass(frozen=True, eq=False)
class Vae:
    """The VAE payload: the autoencoder's handle; ``family`` of the checkpoint it came from
    (None for a standalone VAE file); ``downscale``: pixels per latent sample."""

    handle: ModelHandle
    family: Family | None = None
    downscale: int = 8

    nbytes = 0

    def summary(self) -> str:
        return f"Vae({self.family or 'file'}, {self.handle.key.path})"


def empty_latent(batch: int, height: int, width: int, channels: int = 4) -> Latent:
    """Zeros (batch, channels, height // 8, width // 8), as EmptyLatentImage makes."""
    return Latent(torch.zeros((batch, channels, height // 8, width // 8)))
