"""The SAMPLER payload: a sampler function with its options and how ComfyUI drives it, and the
per-step noise each kind of sampler gets for a seed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser, ModelSampling
from diffusion.sampling.noise import (
    NoiseSampler,
    brownian_tree_noise_sampler,
    gaussian_noise_sampler,
)
from diffusion.sampling.sampler_steps import Sampler, StepCallback
from diffusion.sampling.uncond import UncondTap

NoiseKind = Literal["none", "gaussian", "brownian", "brownian_device"]


NOISE_COMPAT = {"current": 1, "legacy": 0}
"""ComfyUI's two seedings of the CPU step noise, by name: the offset added to the seed."""


@dataclass(frozen=True, eq=False)
class SamplerSpec:
    """A sampler as ComfyUI runs it: the function, its options, and how it is driven.

    noise: "gaussian" = a seeded per-step ``randn`` (ComfyUI's default noise sampler), "brownian"
    = a Brownian tree over the schedule's sigma range built on the CPU (ComfyUI's SDE samplers),
    "brownian_device" = the same tree built on x's device (ComfyUI's ``*_gpu`` samplers: on a GPU
    a different stream for the same seed; on the CPU with float32 sigmas the same stream as
    "brownian"). discard_penultimate_sigma: KSampler schedules one extra step and drops the
    second-to-last sigma (ComfyUI does this for dpm_2, dpm_2_ancestral, uni_pc, uni_pc_bh2).
    paired_scheduler: the schedule that gives the name its textbook meaning; ComfyUI does not
    force it (its ``ddim`` is Euler on whatever scheduler the user picks — ``ddim_uniform``
    reproduces the DDIM paper's timesteps). inpaint_fresh_noise: ComfyUI's ``ddim`` re-draws the
    inpainting noise from seed + 1. options: extra keyword arguments of the function (``eta``,
    ``s_noise`` …). needs_uncond: a CFG++ sampler, called with ``uncond=`` an
    :class:`~diffusion.sampling.uncond.UncondTap`. needs_model_sampling: called with
    ``model_sampling=`` the model's sampling (e.g. SA-Solver's default stochastic interval).
    cpu_step_seed_offset: the "gaussian" step noise on the CPU is seeded with seed + this (1 as
    current ComfyUI; 0 reproduces v0.3.64 and older: ``NOISE_COMPAT``).
    """

    name: str
    sample: Sampler
    noise: NoiseKind = "none"
    discard_penultimate_sigma: bool = False
    paired_scheduler: str | None = None
    inpaint_fresh_noise: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    needs_uncond: bool = False
    needs_model_sampling: bool = False
    cpu_step_seed_offset: int = 1

    nbytes = 0  # a SAMPLER payload holds no tensors

    @property
    def stochastic(self) -> bool:
        return self.noise != "none"

    def run(self, model: Denoiser, x: Tensor, sigmas: Tensor, *, seed: int,
            callback: StepCallback | None = None, uncond: UncondTap | None = None,
            model_sampling: ModelSampling | None = None) -> Tensor:
        """Samples ``x`` (B, C, H, W) over ``sigmas`` with this sampler's noise for ``seed``."""
        channels: dict[str, Any] = {}
        if self.needs_uncond:
            if uncond is None:
                raise ValueError(f"sampler {self.name!r} (CFG++) needs uncond=UncondTap(), "
                                 "recorded by the guider's tapped_denoiser")
            channels["uncond"] = uncond
        if self.needs_model_sampling:
            if model_sampling is None:
                raise ValueError(f"sampler {self.name!r} needs the model's model_sampling")
            channels["model_sampling"] = model_sampling
        return self.sample(
            model, x, sigmas, extra_args={}, callback=callback,
            noise_sampler=noise_sampler_for(self, x, sigmas, seed), **self.options, **channels,
        )

    def summary(self) -> str:
        return f"Sampler({self.name})"


def noise_sampler_for(
    sampler: SamplerSpec, x: Tensor, sigmas: Tensor, seed: int
) -> NoiseSampler | None:
    """The per-step noise ComfyUI gives ``sampler`` for this seed (None if deterministic)."""
    if sampler.noise == "gaussian":
        return gaussian_noise_sampler(x, seed, cpu_offset=sampler.cpu_step_seed_offset)
    if sampler.noise in ("brownian", "brownian_device"):
        positive = sigmas[sigmas > 0]
        if positive.numel() == 0:
            raise ValueError(
                f"sigmas must contain a positive value for {sampler.name!r}, "
                f"got {sigmas.tolist()!r}"
            )
        cpu = sampler.noise == "brownian"
        return brownian_tree_noise_sampler(x, positive.min(), sigmas.max(), seed, cpu=cpu)
    return None
