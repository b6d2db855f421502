"""KL autoencoder (f=8) in the LDM key layout, with tiled encode/decode."""

from __future__ import annotations

from diffusion.vae.model import AutoencoderKL, VAEConfig
from diffusion.vae.tiling import decode_tiled, encode_tiled, tiled_apply

__all__ = ["AutoencoderKL", "VAEConfig", "decode_tiled", "encode_tiled", "tiled_apply"]
