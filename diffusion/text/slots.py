"""Where a checkpoint family keeps one text encoder, and how the UNet consumes its output.

Defined here, beside the encoders, so ``diffusion.text`` needs nothing from ``diffusion.loading``;
``diffusion.loading.detect`` lists each family's slots (``TEXT_SLOTS``) and re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TextKind = Literal["clip", "open_clip"]


@dataclass(frozen=True)
class TextSlot:
    """Where a family keeps one text encoder and how the UNet consumes it."""

    name: str  # "clip_l", "clip_h", "clip_g"
    prefix: str
    kind: TextKind
    layer: int  # default output layer (-1 last, -2 penultimate)
    final_norm: bool  # apply the final LayerNorm to that layer's output
