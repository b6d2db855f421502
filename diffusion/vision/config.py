"""Configuration of the CLIP vision towers (ViT-L/14, ViT-H/14, ViT-bigG/14) and its detection.

Widths, depth, patch size, image size and projection width are read from a file's shapes. Head
count and activation are conventions no shape carries; they follow ComfyUI's configs per width:
1024 (OpenAI ViT-L/14, QuickGELU), 1280 (OpenCLIP ViT-H/14, GELU) and 1664 (OpenCLIP
ViT-bigG/14, GELU) all use 16 heads. Any other width (distilled or test models) gets 64-wide
heads and GELU, the rule of the OpenCLIP towers, and the choice is logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from diffusion.loading.errors import UnknownModelError

logger = logging.getLogger(__name__)

Activation = Literal["quick_gelu", "gelu"]
Shapes = Mapping[str, tuple[int, ...]]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HEAD_WIDTH = 64
# width -> (heads, activation) of the published towers
CONVENTIONS: dict[int, tuple[int, Activation]] = {
    1024: (16, "quick_gelu"),
    1280: (16, "gelu"),
    1664: (16, "gelu"),
}


@dataclass(frozen=True)
class VisionConfig:
    """Hyper-parameters of ``CLIPVisionModel`` (transformers' ``CLIPVisionConfig`` names in
    parentheses): width (hidden_size), layers (num_hidden_layers), heads
    (num_attention_heads), mlp_width (intermediate_size), projection_dim, patch_size,
    image_size, activation (hidden_act), eps (layer_norm_eps)."""

    width: int = 1024
    layers: int = 24
    heads: int = 16
    mlp_width: int = 4096
    projection_dim: int = 768
    patch_size: int = 14
    image_size: int = 224
    activation: Activation = "quick_gelu"
    eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width={self.width} is not divisible by heads={self.heads}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size={self.image_size} is not a multiple of patch_size={self.patch_size}"
            )
        if self.layers < 2:
            raise ValueError(f"layers={self.layers}: the penultimate output needs at least 2")

    @property
    def num_positions(self) -> int:
        """Patch tokens plus the class token."""
        return (self.image_size // self.patch_size) ** 2 + 1


VIT_L_14 = VisionConfig()
VIT_H_14 = VisionConfig(width=1280, layers=32, mlp_width=5120, projection_dim=1024,
                        activation="gelu")
VIT_BIGG_14 = VisionConfig(width=1664, layers=48, mlp_width=8192, projection_dim=1280,
                           activation="gelu")
PRESETS = {"vit-l-14": VIT_L_14, "vit-h-14": VIT_H_14, "vit-bigg-14": VIT_BIGG_14}


def _layer_count(shapes: Shapes, prefix: str) -> int:
    head = prefix + "vision_model.encoder.layers."
    ids = {int(k[len(head):].split(".", 1)[0]) for k in shapes if k.startswith(head)}
    return max(ids) + 1 if ids else 0


def conventions(width: int) -> tuple[int, Activation]:
    """(heads, activation) for a tower of ``width``."""
    if width in CONVENTIONS:
        return CONVENTIONS[width]
    if width % HEAD_WIDTH:
        raise UnknownModelError(f"CLIP vision width {width} is not a multiple of {HEAD_WIDTH}")
    logger.info("CLIP vision width %d is not a published tower's: %d heads of 64, GELU",
                width, width // HEAD_WIDTH)
    return width // HEAD_WIDTH, "gelu"


def detect_vision(shapes: Shapes, prefix: str = "") -> VisionConfig:
    """The tower under ``prefix`` in the transformers layout (``vision_model.…``)."""
    patch = prefix + "vision_model.embeddings.patch_embedding.weight"
    positions = prefix + "vision_model.embeddings.position_embedding.weight"
    fc1 = prefix + "vision_model.encoder.layers.0.mlp.fc1.weight"
    projection = prefix + "visual_projection.weight"
    missing = [k for k in (patch, positions, fc1, projection) if k not in shapes]
    if missing:
        raise UnknownModelError(f"no CLIP vision tower under {prefix!r}: {missing} missing")
    width, _, patch_size, _ = shapes[patch]
    grid = math.isqrt(shapes[positions][0] - 1)
    if grid * grid != shapes[positions][0] - 1:
        raise UnknownModelError(
            f"{positions} has {shapes[positions][0]} positions; expected a square grid + 1"
        )
    heads, activation = conventions(width)
    return VisionConfig(
        width=width, layers=_layer_count(shapes, prefix), heads=heads,
        mlp_width=shapes[fc1][0], projection_dim=shapes[projection][0],
        patch_size=patch_size, image_size=grid * patch_size, activation=activation,
    )
