"""unCLIP image conditioning as an ADM input (ComfyUI's ``unclip_adm`` and
``CLIPEmbeddingNoiseAugmentation``).

Each ``UnclipEntry`` image embedding is normalised with the augmentor's data statistics, noised
to level ``round(999 * noise_augmentation)`` on a ``squaredcos_cap_v2`` schedule of 1000 steps
(``sqrt(ᾱ) x + sqrt(1 - ᾱ) ε``), un-normalised, and joined with the sinusoidal embedding of the
level; the pair is scaled by the entry's strength. Several embeddings are summed and the sum is
noised again at the model's merge level. The noise is drawn from a CPU generator seeded with
the sampler's seed - 10 for every embedding (ComfyUI reseeds the global generator each time),
and the merge draws continue that stream, as ComfyUI's unseeded draw after them does on CPU.

SD2.1 unCLIP feeds the whole vector (embedding + level embedding, zeros without unCLIP
conditioning) to its ADM input, merging at 0.05; SDXL and its refiner take the first 1280 values
in place of the pooled text embedding (Revision), merging at 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from diffusion.guidance.cond import UnclipEntry
from diffusion.unet.blocks import timestep_embedding
from diffusion.unet.config import ADM_FOURIER_CHANNELS

SCHEDULE_STEPS = 1000
MAX_NOISE_LEVEL = 1000
SEED_OFFSET = -10
UNCLIP_MERGE = 0.05  # SD21UNCLIP's unclip_noise_augment_merge


def squaredcos_alphas_cumprod(steps: int = SCHEDULE_STEPS) -> Tensor:
    """ᾱ_t of the ``squaredcos_cap_v2`` schedule (betas capped at 0.999), float64."""
    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = torch.tensor([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999)
                          for i in range(steps)], dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


@dataclass(frozen=True, eq=False)
class NoiseAugmentor:
    """The embedding noise augmentation of one model: embedding width ``dim`` and the data
    statistics (None: mean 0, std 1, ComfyUI's values)."""

    dim: int
    data_mean: Tensor | None = None  # (1, dim)
    data_std: Tensor | None = None  # (1, dim)

    @cached_property
    def _sqrt_alphas(self) -> tuple[Tensor, Tensor]:
        cumprod = squaredcos_alphas_cumprod()
        return cumprod.sqrt().float(), (1.0 - cumprod).sqrt().float()

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean = torch.zeros(1, self.dim) if self.data_mean is None else self.data_mean
        std = torch.ones(1, self.dim) if self.data_std is None else self.data_std
        return mean.reshape(1, -1).to(x), std.reshape(1, -1).to(x)

    def __call__(self, x: Tensor, level: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(noised x, level embedding), both (1, dim), for x (dim,) or (1, dim)."""
        x = x.float().reshape(1, -1)
        if x.shape[1] != self.dim:
            raise ValueError(f"unCLIP image embedding is {x.shape[1]}-wide; this model's noise "
                             f"augmentation takes {self.dim}-wide CLIP vision embeddings")
        mean, std = self._stats(x)
        scaled = (x - mean) / std
        noise = torch.randn(scaled.shape, generator=generator).to(x)
        sqrt_a, sqrt_1ma = self._sqrt_alphas
        noised = sqrt_a[level] * scaled + sqrt_1ma[level] * noise
        levels = torch.tensor([level], device=x.device)
        return noised * std + mean, timestep_embedding(levels, self.dim).to(x)


@dataclass(frozen=True, eq=False)
class AdmNoise:
    """What unCLIP conditioning needs at sampling time: the model's augmentor, the merge level
    of several embeddings and the run's seed."""

    augmentor: NoiseAugmentor
    seed: int
    merge: float = 0.0


def noise_level(noise_augmentation: float) -> int:
    return round((MAX_NOISE_LEVEL - 1) * noise_augmentation)


def unclip_adm(entries: Sequence[UnclipEntry], noise: AdmNoise) -> Tensor:
    """The (1, 2 * dim) unCLIP ADM vector of a conditioning entry's unCLIP entries."""
    if not entries:
        raise ValueError("unclip_adm needs at least one unCLIP entry")
    augment, outputs = noise.augmentor, []
    generator = torch.Generator()
    for entry in entries:
        for embed in entry.image_embeds:  # (dim,) per image
            generator.manual_seed(noise.seed + SEED_OFFSET)
            noised, level = augment(embed, noise_level(entry.noise_augmentation), generator)
            outputs.append(torch.cat([noised, level], dim=1) * entry.strength)  # (1, 2 dim)
    if len(outputs) == 1:
        return outputs[0]
    summed = torch.stack(outputs).sum(0)  # (1, 2 dim)
    noised, level = augment(summed[:, :augment.dim], noise_level(noise.merge), generator)
    return torch.cat([noised, level], dim=1)


def zero_adm(noise: AdmNoise) -> Tensor:
    """SD2.1 unCLIP's ADM input without unCLIP conditioning: zeros (1, 2 * dim)."""
    return torch.zeros(1, 2 * noise.augmentor.dim)


DATA_MEAN_KEY = "noise_augmentor.data_mean"
DATA_STD_KEY = "noise_augmentor.data_std"


def unclip_augmentor(dim: int, read: Callable[[str], Tensor | None]) -> NoiseAugmentor:
    """An SD2.1 unCLIP checkpoint's augmentor: its ``noise_augmentor.data_mean`` /
    ``data_std`` when the file carries them (the original code keeps them out of its state
    dicts, so published files do not: then mean 0 and std 1, ComfyUI's values)."""
    mean, std = read(DATA_MEAN_KEY), read(DATA_STD_KEY)
    for name, value in ((DATA_MEAN_KEY, mean), (DATA_STD_KEY, std)):
        if value is not None and value.numel() != dim:
            raise ValueError(f"{name} has {value.numel()} values; the model's unCLIP "
                             f"embeddings are {dim}-wide")
    if (mean is None) != (std is None):
        raise ValueError(f"{DATA_MEAN_KEY} and {DATA_STD_KEY} come together; the file has one")
    return NoiseAugmentor(dim, None if mean is None else mean.float().reshape(1, dim),
                          None if std is None else std.float().reshape(1, dim))


def model_adm_noise(kind: str, adm_in_channels: int | None, unclip: NoiseAugmentor | None,
                    seed: int) -> AdmNoise | None:
    """The ``AdmNoise`` of a run with ``seed`` on a model with this ADM input: SD2.1 unCLIP
    (its augmentor, merge 0.05), SDXL / refiner (mean 0, std 1 over the pooled width, merge 0);
    None for models without ADM."""
    if kind == "unclip":
        if adm_in_channels is None:
            raise ValueError("an unCLIP model needs an ADM input (adm_in_channels)")
        return AdmNoise(unclip or NoiseAugmentor(adm_in_channels // 2), seed, UNCLIP_MERGE)
    micro = {"sdxl": 6, "sdxl_refiner": 5}.get(kind)
    if micro is None or adm_in_channels is None:
        return None
    return AdmNoise(NoiseAugmentor(adm_in_channels - micro * ADM_FOURIER_CHANNELS), seed)
