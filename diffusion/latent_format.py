"""Per-family latent formats: how raw VAE latents are scaled on the way into and out of the sampler.

As in ComfyUI, a LATENT holds raw VAE latents; the scale belongs to the diffusion model's family,
so a standalone VAE file needs no scale of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class LatentFormat:
    """``scale_factor`` (and ``shift``) mapping raw VAE latents to the model's latent space."""

    name: str
    scale_factor: float
    shift: float = 0.0
    channels: int = 4

    def process_in(self, latents: Tensor) -> Tensor:
        """Raw VAE latents -> model space (before sampling)."""
        return (latents - self.shift) * self.scale_factor

    def process_out(self, latents: Tensor) -> Tensor:
        """Model space -> raw VAE latents (after sampling)."""
        return latents / self.scale_factor + self.shift


SD15 = LatentFormat("sd15", 0.18215)  # SD1.x and SD2.x
SDXL = LatentFormat("sdxl", 0.13025)  # SDXL base and refiner
