"""PhotoMaker (v1) ID embeddings for SDXL (ComfyUI's PhotoMakerLoader / PhotoMakerEncode): the
ID encoder (a CLIP ViT-L/14 image tower, two projections and the fuse module), its files, and
the prompt handling that picks the class token the ID is fused into."""

from __future__ import annotations

from diffusion.photomaker.loading import PhotoMakerError, load_photomaker
from diffusion.photomaker.model import (
    FuseModule,
    PhotoMakerConfig,
    PhotoMakerIDEncoder,
)
from diffusion.photomaker.prompt import (
    TRIGGER_WORD,
    class_token_mask,
    drop_word,
    encode_without_word,
    trigger_index,
)

__all__ = ["TRIGGER_WORD", "FuseModule", "PhotoMakerConfig", "PhotoMakerError",
           "PhotoMakerIDEncoder", "class_token_mask", "drop_word", "encode_without_word",
           "load_photomaker", "trigger_index"]
