"""Per-family latent formats: how raw VAE latents are scaled on the way into and out of the sampler.

As in ComfyUI, a LATENT holds raw VAE latents; the scale belongs to the diffusion model's family,
so a standalone VAE file needs no scale of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class LatentFormat:
    """``scale_factor`` (and ``shift``) mapping raw VAE latents to the model's latent space;
    with ``channel_mean`` / ``channel_std`` each channel is standardised first (Playground
    v2.5)."""

    name: str
    scale_factor: float
    shift: float = 0.0
    channels: int = 4
    channel_mean: tuple[float, ...] | None = None
    channel_std: tuple[float, ...] | None = None

    def _stats(self, latents: Tensor) -> tuple[Tensor, Tensor]:
        assert self.channel_mean is not None and self.channel_std is not None
        shape = (1, len(self.channel_mean), 1, 1)
        mean = torch.tensor(self.channel_mean).view(shape).to(latents)  # (1, C, 1, 1)
        std = torch.tensor(self.channel_std).view(shape).to(latents)  # (1, C, 1, 1)
        return mean, std

    def process_in(self, latents: Tensor) -> Tensor:
        """Raw VAE latents -> model space (before sampling)."""
        if self.channel_mean is not None:
            mean, std = self._stats(latents)
            return (latents - mean) * self.scale_factor / std
        return (latents - self.shift) * self.scale_factor

    def process_out(self, latents: Tensor) -> Tensor:
        """Model space -> raw VAE latents (after sampling)."""
        if self.channel_mean is not None:
            mean, std = self._stats(latents)
            return latents * std / self.scale_factor + mean
        return latents / self.scale_factor + self.shift


SD15 = LatentFormat("sd15", 0.18215)  # SD1.x and SD2.x
SDXL = LatentFormat("sdxl", 0.13025)  # SDXL base and refiner
SDXL_PLAYGROUND_2_5 = LatentFormat(  # Playground v2.5's per-channel statistics of the SDXL VAE
    "sdxl_playground_2_5", 0.5,
    channel_mean=(-1.6574, 1.886, -1.383, 2.5155), channel_std=(8.4927, 5.9022, 6.5498, 5.2299),
)
SD_X4 = LatentFormat("sd_x4", 0.08333)  # the SD x4 upscaler (x4-upscaling.yaml scale_factor)


def family_latent_format(family: str | None) -> LatentFormat:
    """The latent format of a model family (SD1.x/SD2.x's for an unknown one)."""
    if family in ("sdxl", "sdxl_refiner"):
        return SDXL
    if family == "sd_x4_upscaler":
        return SD_X4
    return SD15
