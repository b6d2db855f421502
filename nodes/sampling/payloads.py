"""Payloads of the SAMPLER, NOISE and GUIDER sockets (SIGMAS is a 1-d float Tensor).

Small frozen values, never mutated: a SAMPLER names a registry entry, a NOISE draws ComfyUI's
initial noise for a latent, a GUIDER holds a model with its conditioning and CFG scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance import Cond
from diffusion.sampling import get_sampler, prepare_noise
from nodes.payloads import DiffusionModel, Latent


@dataclass(frozen=True)
class SamplerChoice:
    """A SAMPLER: one of ``diffusion.sampling.SAMPLERS`` by ComfyUI name."""

    name: str

    def __post_init__(self) -> None:
        get_sampler(self.name)  # refuses unknown names, listing the known ones

    nbytes = 0

    def summary(self) -> str:
        return f"Sampler({self.name})"


@dataclass(frozen=True)
class SeededNoise:
    """A NOISE: ComfyUI's ``Noise_RandomNoise`` (``enabled``) or ``Noise_EmptyNoise``."""

    seed: int
    enabled: bool = True

    nbytes = 0

    def generate(self, latent: Latent) -> Tensor:
        """Initial noise shaped like ``latent.samples`` (B, C, h, w), on the CPU."""
        if not self.enabled:
            return torch.zeros(latent.samples.shape, dtype=latent.samples.dtype)
        return prepare_noise(latent.samples.cpu(), self.seed, latent.batch_index)

    def summary(self) -> str:
        return f"Noise(seed {self.seed})" if self.enabled else "Noise(disabled)"


@dataclass(frozen=True, eq=False)
class CfgGuide:
    """A GUIDER: classifier-free guidance of ``model`` between positive and negative."""

    model: DiffusionModel
    positive: tuple[Cond, ...]
    negative: tuple[Cond, ...]
    cfg: float

    nbytes = 0

    def summary(self) -> str:
        return (f"CFGGuider(cfg {self.cfg:g}, {len(self.positive)} positive, "
                f"{len(self.negative)} negative)")
