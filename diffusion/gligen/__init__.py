"""GLIGEN text-box grounding (ComfyUI's GLIGENLoader / GLIGENTextBoxApply): the model and its
files, and the boxes a conditioning entry carries, applied inside the UNet's transformer blocks
through the middle-patch extension point (``diffusion.unet.attention.MiddlePatch``)."""

from __future__ import annotations

from diffusion.gligen.grounding import GligenBox, GligenPatch, GligenPosition, grounding_inputs
from diffusion.gligen.loading import GligenError, config_for_unet, load_gligen
from diffusion.gligen.model import (
    MAX_OBJECTS,
    FuserSpec,
    GatedSelfAttentionDense,
    GligenConfig,
    GligenModel,
    PositionNet,
    fourier_features,
)

__all__ = ["MAX_OBJECTS", "FuserSpec", "GatedSelfAttentionDense", "GligenBox", "GligenConfig",
           "GligenError", "GligenModel", "GligenPatch", "GligenPosition", "PositionNet",
           "config_for_unet", "fourier_features", "grounding_inputs", "load_gligen"]
