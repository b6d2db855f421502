"""``TargetModel``: one model a LoRA may patch — its name, parameter shapes and naming schemes.

Shapes come from building the module on the ``meta`` device, so describing a full-size SDXL UNet
allocates no weights. ``name`` is what ``lora_patches``' strengths are keyed by (``"unet"``,
``"clip_l"``, ``"clip_g"``, ``"clip_h"``). A text encoder's ``text_role`` says how kohya and
diffusers name it: ``"te"`` the only encoder (``lora_te_``, ``text_encoder.``), ``"te1"`` /
``"te2"`` SDXL's first / second (``lora_te1_`` / ``lora_te2_``, ``text_encoder`` /
``text_encoder_2``). A target with neither a UNet config nor a text kind is matched by its own
parameter names only (any module; used for small tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from diffusion.loading.detect import UNET_PREFIX, CheckpointLayout
from diffusion.text.clip import CLIPTextModel, OpenCLIPTextModel, TextEncoderConfig
from diffusion.text.slots import TextKind
from diffusion.unet.config import UNetConfig
from diffusion.unet.model import UNetModel

TextRole = Literal["te", "te1", "te2"]
Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class TargetModel:
    name: str
    shapes: Shapes  # our parameter keys -> shapes
    unet: UNetConfig | None = None
    text_kind: TextKind | None = None
    text_role: TextRole | None = None
    checkpoint_prefix: str = ""  # where a single-file checkpoint keeps it (its own-name prefix)

    def __post_init__(self) -> None:
        if self.unet is not None and self.text_kind is not None:
            raise ValueError(f"target {self.name!r}: give unet or text_kind, not both")
        if (self.text_kind is None) != (self.text_role is None):
            raise ValueError(
                f"target {self.name!r}: text_kind={self.text_kind!r} needs a text_role "
                f"(and only a text encoder has one); got text_role={self.text_role!r}"
            )


def parameter_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(p.shape) for key, p in module.named_parameters()}


def _meta_shapes(factory: Callable[[], nn.Module]) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return parameter_shapes(factory())


def unet_target(
    config: UNetConfig, *, name: str = "unet", checkpoint_prefix: str = UNET_PREFIX
) -> TargetModel:
    """The UNet of ``config`` (shapes from a meta-device build)."""
    shapes = _meta_shapes(lambda: UNetModel(config))
    return TargetModel(name, shapes, unet=config, checkpoint_prefix=checkpoint_prefix)


def text_target(
    name: str,
    kind: TextKind,
    config: TextEncoderConfig,
    *,
    role: TextRole,
    checkpoint_prefix: str = "",
) -> TargetModel:
    """A CLIP (``"clip"``) or OpenCLIP (``"open_clip"``) text encoder of ``config``."""
    if kind not in ("clip", "open_clip"):
        raise ValueError(f"text kind {kind!r} is unknown; choose 'clip' or 'open_clip'")
    model = CLIPTextModel if kind == "clip" else OpenCLIPTextModel
    shapes = _meta_shapes(lambda: model(config))
    return TargetModel(
        name, shapes, text_kind=kind, text_role=role, checkpoint_prefix=checkpoint_prefix
    )


def layout_targets(layout: CheckpointLayout) -> dict[str, TargetModel]:
    """The UNet and every text encoder of a detected checkpoint layout, keyed by name."""
    targets = {"unet": unet_target(layout.unet)}
    roles: tuple[TextRole, ...] = ("te1", "te2") if len(layout.text) == 2 else ("te",)
    for (slot, config), role in zip(layout.text, roles, strict=False):
        targets[slot.name] = text_target(
            slot.name, slot.kind, config, role=role, checkpoint_prefix=slot.prefix
        )
    return targets


__all__ = [
    "TargetModel",
    "TextRole",
    "layout_targets",
    "parameter_shapes",
    "text_target",
    "unet_target",
]
