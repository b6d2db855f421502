"""ComfyUI's built-in samplers as ``SamplerSpec`` objects (the SAMPLER payload: the function,
its options and how ComfyUI drives it), and the KSampler sigma recipe (denoise < 1, the
penultimate-sigma discard of dpm_2 / uni_pc, KSamplerAdvanced's step window).

``SAMPLERS`` is the read-only catalogue of built-in specs; the table a run looks names up in is
an object the node packs fill (the built-in pack registers these), so packs can add samplers.
Functions that take a sampler or scheduler accept the object, or a built-in name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import Tensor

from diffusion.sampling.ancestral_samplers import (
    sample_ddpm,
    sample_dpm_2_ancestral,
    sample_dpmpp_2s_ancestral,
    sample_euler_ancestral,
    sample_lcm,
)
from diffusion.sampling.model_sampling import Denoiser, ModelSampling
from diffusion.sampling.noise import (
    NoiseSampler,
    brownian_tree_noise_sampler,
    gaussian_noise_sampler,
)
from diffusion.sampling.ode_samplers import (
    sample_dpm_2,
    sample_dpmpp_2m,
    sample_euler,
    sample_heun,
    sample_lms,
)
from diffusion.sampling.sampler_steps import Sampler, StepCallback
from diffusion.sampling.schedules import SCHEDULERS, ScheduleFn
from diffusion.sampling.sde_samplers import (
    sample_dpmpp_2m_sde,
    sample_dpmpp_3m_sde,
    sample_dpmpp_sde,
)
from diffusion.sampling.unipc import sample_uni_pc, sample_uni_pc_bh2

NoiseKind = Literal["none", "gaussian", "brownian"]


@dataclass(frozen=True, eq=False)
class SamplerSpec:
    """A sampler as ComfyUI runs it: the function, its options, and how it is driven.

    noise: "gaussian" = a seeded per-step ``randn`` (ComfyUI's default noise sampler), "brownian"
    = a Brownian tree over the schedule's sigma range. discard_penultimate_sigma: KSampler
    schedules one extra step and drops the second-to-last sigma (ComfyUI does this for dpm_2,
    dpm_2_ancestral, uni_pc, uni_pc_bh2). paired_scheduler: the schedule that gives the name its
    textbook meaning; ComfyUI does not force it (its ``ddim`` is Euler on whatever scheduler the
    user picks — ``ddim_uniform`` reproduces the DDIM paper's timesteps). inpaint_fresh_noise:
    ComfyUI's ``ddim`` re-draws the inpainting noise from seed + 1. options: extra keyword
    arguments of the function (``eta``, ``s_noise`` …).
    """

    name: str
    sample: Sampler
    noise: NoiseKind = "none"
    discard_penultimate_sigma: bool = False
    paired_scheduler: str | None = None
    inpaint_fresh_noise: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    nbytes = 0  # a SAMPLER payload holds no tensors

    @property
    def stochastic(self) -> bool:
        return self.noise != "none"

    def run(self, model: Denoiser, x: Tensor, sigmas: Tensor, *, seed: int,
            callback: StepCallback | None = None) -> Tensor:
        """Samples ``x`` (B, C, H, W) over ``sigmas`` with this sampler's noise for ``seed``."""
        return self.sample(
            model, x, sigmas, extra_args={}, callback=callback,
            noise_sampler=make_noise_sampler(self, x, sigmas, seed), **self.options,
        )

    def summary(self) -> str:
        return f"Sampler({self.name})"


SAMPLERS: MappingProxyType[str, SamplerSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            SamplerSpec("euler", sample_euler),
            SamplerSpec("euler_ancestral", sample_euler_ancestral, noise="gaussian"),
            SamplerSpec("heun", sample_heun),
            SamplerSpec("dpm_2", sample_dpm_2, discard_penultimate_sigma=True),
            SamplerSpec(
                "dpm_2_ancestral",
                sample_dpm_2_ancestral,
                noise="gaussian",
                discard_penultimate_sigma=True,
            ),
            SamplerSpec("lms", sample_lms),
            SamplerSpec("dpmpp_2s_ancestral", sample_dpmpp_2s_ancestral, noise="gaussian"),
            SamplerSpec("dpmpp_sde", sample_dpmpp_sde, noise="brownian"),
            SamplerSpec("dpmpp_2m", sample_dpmpp_2m),
            SamplerSpec("dpmpp_2m_sde", sample_dpmpp_2m_sde, noise="brownian"),
            SamplerSpec("dpmpp_3m_sde", sample_dpmpp_3m_sde, noise="brownian"),
            SamplerSpec("ddpm", sample_ddpm, noise="gaussian"),
            SamplerSpec("lcm", sample_lcm, noise="gaussian"),
            SamplerSpec(
                "ddim", sample_euler, paired_scheduler="ddim_uniform", inpaint_fresh_noise=True
            ),
            SamplerSpec("uni_pc", sample_uni_pc, discard_penultimate_sigma=True),
            SamplerSpec("uni_pc_bh2", sample_uni_pc_bh2, discard_penultimate_sigma=True),
        )
    }
)
"""Sampler name -> spec, in ComfyUI's list order (ddim, uni_pc, uni_pc_bh2 last)."""

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)


def get_sampler(name: str) -> SamplerSpec:
    """A built-in sampler by name."""
    spec = SAMPLERS.get(name)
    if spec is None:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}")
    return spec


def _spec(sampler: SamplerSpec | str) -> SamplerSpec:
    return sampler if isinstance(sampler, SamplerSpec) else get_sampler(sampler)


def _schedule(scheduler: ScheduleFn | str) -> ScheduleFn:
    if callable(scheduler):
        return scheduler
    schedule = SCHEDULERS.get(scheduler)
    if schedule is None:
        raise ValueError(f"unknown scheduler {scheduler!r}; choose one of {sorted(SCHEDULERS)}")
    return schedule


def make_noise_sampler(
    sampler: SamplerSpec | str, x: Tensor, sigmas: Tensor, seed: int
) -> NoiseSampler | None:
    """The per-step noise ComfyUI gives ``sampler`` for this seed (None if deterministic)."""
    spec = _spec(sampler)
    name = spec.name
    if spec.noise == "gaussian":
        return gaussian_noise_sampler(x, seed)
    if spec.noise == "brownian":
        positive = sigmas[sigmas > 0]
        if positive.numel() == 0:
            raise ValueError(
                f"sigmas must contain a positive value for {name!r}, got {sigmas.tolist()!r}"
            )
        return brownian_tree_noise_sampler(x, positive.min(), sigmas.max(), seed, cpu=True)
    return None


def _scheduled_sigmas(
    model_sampling: ModelSampling, spec: SamplerSpec, schedule: ScheduleFn, steps: int
) -> Tensor:
    if not spec.discard_penultimate_sigma:
        return schedule(model_sampling, steps)
    sigmas = schedule(model_sampling, steps + 1)
    return torch.cat([sigmas[:-2], sigmas[-1:]])


def ksampler_sigmas(
    model_sampling: ModelSampling,
    sampler: SamplerSpec | str,
    scheduler: ScheduleFn | str,
    steps: int,
    denoise: float = 1.0,
) -> Tensor:
    """KSampler's sigmas. With denoise < 1 the schedule is built for ``int(steps / denoise)``
    steps and its last ``steps`` steps are taken (img2img starts part-way); denoise <= 0 gives an
    empty schedule (nothing to sample).
    """
    spec, schedule = _spec(sampler), _schedule(scheduler)
    if denoise > 0.9999:
        return _scheduled_sigmas(model_sampling, spec, schedule, steps)
    if denoise <= 0.0:
        return torch.zeros(0)
    total_steps = int(steps / denoise)
    return _scheduled_sigmas(model_sampling, spec, schedule, total_steps)[-(steps + 1) :]


def advanced_sigmas(
    sigmas: Tensor,
    start_step: int | None = None,
    last_step: int | None = None,
    force_full_denoise: bool = False,
) -> Tensor:
    """KSamplerAdvanced's window: steps [start_step, last_step) of ``sigmas`` (never mutated).

    ``force_full_denoise`` ends a truncated window at sigma 0. An empty result means ComfyUI
    skips sampling and returns the input latent unchanged.
    """
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[: last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        if start_step >= len(sigmas) - 1:
            return sigmas[:0]
        sigmas = sigmas[start_step:]
    return sigmas
