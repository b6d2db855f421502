"""Reading single-file checkpoints and detecting their family and configuration from keys."""

from __future__ import annotations

from diffusion.loading.checkpoint import (
    Checkpoint,
    OpenedCheckpoint,
    load_checkpoint,
    open_checkpoint,
    prediction_type,
)
from diffusion.loading.components import load_unet, load_vae
from diffusion.loading.detect import (
    CheckpointLayout,
    TextSlot,
    detect_layout,
    detect_text,
    detect_unet,
    detect_vae,
)
from diffusion.loading.errors import (
    CheckpointError,
    TruncatedCheckpointError,
    UnknownModelError,
    UnsupportedCheckpointFormatError,
)
from diffusion.loading.text_files import TextEncoderFile, load_text_encoder

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointLayout",
    "OpenedCheckpoint",
    "TextSlot",
    "TruncatedCheckpointError",
    "UnknownModelError",
    "UnsupportedCheckpointFormatError",
    "detect_layout",
    "detect_text",
    "detect_unet",
    "detect_vae",
    "load_checkpoint",
    "load_unet",
    "load_vae",
    "load_text_encoder",
    "TextEncoderFile",
    "open_checkpoint",
    "prediction_type",
]
