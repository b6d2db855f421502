"""Payloads of the image-conditioning sockets: CLIP_VISION, CLIP_VISION_OUTPUT, STYLE_MODEL and
the IPAdapter plugin's IPADAPTER and EMBEDS. Frozen, never mutated; model payloads hold
``ModelHandle`` objects (no weights, ``nbytes == 0``), read by the ModelManager when used.

A ComfyUI plugin reads a CLIP_VISION_OUTPUT by attribute (``.image_embeds``) or by key
(``["penultimate_hidden_states"]``), as ComfyUI's ``Output`` allows; both work here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from diffusion.ipadapter import IPAdapterConfig
from diffusion.memory import ModelHandle
from diffusion.style import StyleConfig
from diffusion.vision import VisionConfig


@dataclass(frozen=True, eq=False)
class ClipVision:
    """A CLIP vision tower: its handle (a clip_vision file, or an SD2.1 unCLIP checkpoint's
    tower) and configuration."""

    handle: ModelHandle
    config: VisionConfig

    nbytes = 0

    def summary(self) -> str:
        cfg = self.config
        return (f"ClipVision({cfg.width}-wide, {cfg.layers} layers, {cfg.image_size}px, "
                f"{self.handle.key.path})")


@dataclass(frozen=True, eq=False)
class ClipVisionOutput:
    """CLIPVisionEncode's result for a batch of n images (float32, CPU): ``last_hidden_state``
    and ``penultimate_hidden_states`` (n, P, width), ``image_embeds`` (n, projection)."""

    last_hidden_state: Tensor
    penultimate_hidden_states: Tensor
    image_embeds: Tensor

    def __getitem__(self, key: str) -> Any:
        if key not in ("last_hidden_state", "penultimate_hidden_states", "image_embeds"):
            raise KeyError(f"CLIP_VISION_OUTPUT has no {key!r}")
        return getattr(self, key)

    @property
    def nbytes(self) -> int:
        return sum(int(t.nbytes) for t in (self.last_hidden_state,
                                           self.penultimate_hidden_states, self.image_embeds))

    def summary(self) -> str:
        return f"ClipVisionOutput({tuple(self.image_embeds.shape)})"


@dataclass(frozen=True, eq=False)
class StyleModel:
    """A T2I-Adapter style model's handle and configuration."""

    handle: ModelHandle
    config: StyleConfig

    nbytes = 0


@dataclass(frozen=True, eq=False)
class IPAdapter:
    """The IPADAPTER payload: the adapter's handle and configuration, and the CLIP vision tower
    the plugin's unified loader pairs with it (None from IPAdapterModelLoader)."""

    handle: ModelHandle
    config: IPAdapterConfig
    clip_vision: ClipVision | None = None

    nbytes = 0

    def summary(self) -> str:
        return f"IPAdapter({self.config.describe()}, {self.handle.key.path})"


__all__ = ["ClipVision", "ClipVisionOutput", "IPAdapter", "StyleModel"]
