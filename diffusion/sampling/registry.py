"""ComfyUI's built-in samplers as ``SamplerSpec`` objects (the SAMPLER payload: the function,
its options and how ComfyUI drives it), and the KSampler sigma recipe (denoise < 1, the
penultimate-sigma discard of dpm_2 / uni_pc, KSamplerAdvanced's step window).

``SAMPLERS`` is the read-only catalogue of built-in specs; the table a run looks names up in is
an object the node packs fill (the built-in pack registers these), so packs can add samplers.
Functions that take a sampler or scheduler accept the object, or a built-in name.
"""

from __future__ import annotations

import torch
from torch import Tensor

from diffusion.sampling.catalogue import SAMPLER_NAMES, SAMPLERS
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_spec import NoiseKind, SamplerSpec, noise_sampler_for
from diffusion.sampling.schedules import SCHEDULERS, ScheduleFn

__all__ = [
    "SAMPLERS",
    "SAMPLER_NAMES",
    "NoiseKind",
    "SamplerSpec",
    "advanced_sigmas",
    "get_sampler",
    "ksampler_sigmas",
    "make_noise_sampler",
]


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
    return noise_sampler_for(_spec(sampler), x, sigmas, seed)


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
