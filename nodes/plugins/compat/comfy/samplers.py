"""ComfyUI's ``comfy.samplers`` for node packs: the sampler and scheduler names packs offer in
their ``INPUT_TYPES`` (``KSampler.SAMPLERS`` / ``SCHEDULERS``: the registry's sampling table,
built-in and plugin-added), ``sampler_object`` / ``ksampler`` (a SAMPLER payload by name),
``KSAMPLER`` (a pack's own k-diffusion-style sampler function as a SAMPLER) and
``calculate_sigmas``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from diffusion.sampling import SamplerSpec
from nodes.plugins.host import current


def _table() -> Any:
    return current().registry.samplers


class KSampler:
    """Holds ComfyUI's name lists (``KSampler.SAMPLERS``, ``KSampler.SCHEDULERS``)."""

    SAMPLERS: list[str] = []
    SCHEDULERS: list[str] = []
    DISCARD_PENULTIMATE_SIGMA_SAMPLERS = {"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"}


SAMPLER_NAMES = KSampler.SAMPLERS
SCHEDULER_NAMES = KSampler.SCHEDULERS
KSAMPLER_NAMES: list[str] = []


def refresh() -> None:
    """Fill the name lists (in place: packs keep references to them) from the active host's
    registry; the host calls it when a new one is installed."""
    KSampler.SAMPLERS[:] = _table().sampler_names()
    KSampler.SCHEDULERS[:] = _table().scheduler_names()
    KSAMPLER_NAMES[:] = [n for n in SAMPLER_NAMES if n not in ("ddim", "uni_pc", "uni_pc_bh2")]


refresh()


def sampler_object(name: str) -> SamplerSpec:
    """The SAMPLER payload of a sampler name (what KSamplerSelect outputs)."""
    return _table().sampler(name)  # type: ignore[no-any-return]


def ksampler(sampler_name: str, extra_options: Mapping[str, Any] | None = None,
             inpaint_options: Mapping[str, Any] | None = None) -> SamplerSpec:
    spec: SamplerSpec = _table().sampler(sampler_name)
    if extra_options:
        import dataclasses

        spec = dataclasses.replace(spec, options={**spec.options, **extra_options})
    return spec


def KSAMPLER(sampler_function: Callable[..., torch.Tensor],  # noqa: N802 (ComfyUI's name)
             extra_options: Mapping[str, Any] | None = None,
             inpaint_options: Mapping[str, Any] | None = None) -> SamplerSpec:
    """A pack's sampler ``fn(model, x, sigmas, extra_args=None, callback=None, disable=None,
    noise_sampler=None, **options)`` as a SAMPLER (gaussian per-step noise for the seed)."""
    def sample(model: Any, x: torch.Tensor, sigmas: torch.Tensor, *, extra_args: Any,
               callback: Any, noise_sampler: Any, **options: Any) -> torch.Tensor:
        return sampler_function(model, x, sigmas, extra_args=extra_args, callback=callback,
                                disable=True, noise_sampler=noise_sampler, **options)

    name = getattr(sampler_function, "__name__", "plugin_sampler")
    return SamplerSpec(name, sample, noise="gaussian", options=dict(extra_options or {}))


def calculate_sigmas(model_sampling: Any, scheduler_name: str, steps: int) -> torch.Tensor:
    return _table().scheduler(scheduler_name)(model_sampling, steps)  # type: ignore[no-any-return]
