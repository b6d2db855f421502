"""ComfyUI's named variants of the DPM-Solver++ SDE samplers: ``*_gpu`` (the same solver; its
spec builds the Brownian tree on the compute device) and ``dpmpp_2m_sde_heun*`` (the Heun
correction). Each checks its noise under its own name, then runs the base solver."""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, require_noise
from diffusion.sampling.sde_samplers import (
    sample_dpmpp_2m_sde,
    sample_dpmpp_3m_sde,
    sample_dpmpp_sde,
)


def sample_dpmpp_sde_gpu(
    model: Denoiser, x: Tensor, sigmas: Tensor, *, extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None, noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0, s_noise: float = 1.0, r: float = 1 / 2,
) -> Tensor:
    """dpmpp_sde with device-side Brownian noise."""
    if len(sigmas) > 1:
        require_noise(noise_sampler, "dpmpp_sde_gpu")
    return sample_dpmpp_sde(model, x, sigmas, extra_args=extra_args, callback=callback,
                            noise_sampler=noise_sampler, eta=eta, s_noise=s_noise, r=r)


def _dpmpp_2m_sde_named(
    name: str, model: Denoiser, x: Tensor, sigmas: Tensor, extra_args: dict[str, Any] | None,
    callback: StepCallback | None, noise_sampler: NoiseSampler | None, eta: float,
    s_noise: float, solver_type: Literal["midpoint", "heun"],
) -> Tensor:
    if len(sigmas) > 1:
        require_noise(noise_sampler, name)
    return sample_dpmpp_2m_sde(model, x, sigmas, extra_args=extra_args, callback=callback,
                               noise_sampler=noise_sampler, eta=eta, s_noise=s_noise,
                               solver_type=solver_type)


def sample_dpmpp_2m_sde_gpu(
    model: Denoiser, x: Tensor, sigmas: Tensor, *, extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None, noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0, s_noise: float = 1.0,
    solver_type: Literal["midpoint", "heun"] = "midpoint",
) -> Tensor:
    """dpmpp_2m_sde with device-side Brownian noise."""
    return _dpmpp_2m_sde_named("dpmpp_2m_sde_gpu", model, x, sigmas, extra_args, callback,
                               noise_sampler, eta, s_noise, solver_type)


def sample_dpmpp_2m_sde_heun(
    model: Denoiser, x: Tensor, sigmas: Tensor, *, extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None, noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0, s_noise: float = 1.0,
    solver_type: Literal["midpoint", "heun"] = "heun",
) -> Tensor:
    """DPM-Solver++(2M) SDE with the Heun correction."""
    return _dpmpp_2m_sde_named("dpmpp_2m_sde_heun", model, x, sigmas, extra_args, callback,
                               noise_sampler, eta, s_noise, solver_type)


def sample_dpmpp_2m_sde_heun_gpu(
    model: Denoiser, x: Tensor, sigmas: Tensor, *, extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None, noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0, s_noise: float = 1.0,
    solver_type: Literal["midpoint", "heun"] = "heun",
) -> Tensor:
    """dpmpp_2m_sde_heun with device-side Brownian noise."""
    return _dpmpp_2m_sde_named("dpmpp_2m_sde_heun_gpu", model, x, sigmas, extra_args,
                               callback, noise_sampler, eta, s_noise, solver_type)


def sample_dpmpp_3m_sde_gpu(
    model: Denoiser, x: Tensor, sigmas: Tensor, *, extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None, noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0, s_noise: float = 1.0,
) -> Tensor:
    """dpmpp_3m_sde with device-side Brownian noise."""
    if len(sigmas) > 1:
        require_noise(noise_sampler, "dpmpp_3m_sde_gpu")
    return sample_dpmpp_3m_sde(model, x, sigmas, extra_args=extra_args, callback=callback,
                               noise_sampler=noise_sampler, eta=eta, s_noise=s_noise)
