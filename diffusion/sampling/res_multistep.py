"""RES multistep samplers (Zhang et al. 2023, "Improving the Sampling of Diffusion Models with
Refined Exponential Solvers", arXiv:2308.02157, second-order multistep), as ComfyUI's
``res_multistep`` family: deterministic, ancestral (``eta``), and their CFG++ variants (which
step along the unconditional x0 and add the guidance vector, see ``cfg_pp_samplers``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import (
    StepCallback,
    ancestral_step,
    report,
    require_noise,
    to_d,
)
from diffusion.sampling.uncond import UncondTap, require_uncond


def _phi_coefficients(h: Tensor, c2: Tensor) -> tuple[Tensor, Tensor]:
    """(b1, b2) of the RES second-order step: phi_1(-h) - phi_2(-h) / c2 and phi_2(-h) / c2."""
    phi_1 = torch.expm1(-h) / -h
    phi_2 = (phi_1 - 1.0) / -h
    return torch.nan_to_num(phi_1 - phi_2 / c2, nan=0.0), torch.nan_to_num(phi_2 / c2, nan=0.0)


def _res_multistep(
    model: Denoiser, x: Tensor, sigmas: Tensor, extra_args: dict[str, Any] | None,
    callback: StepCallback | None, noise_sampler: NoiseSampler | None, eta: float,
    s_noise: float, tap: UncondTap | None, name: str,
) -> Tensor:
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    old_denoised: Tensor | None = None
    old_sigma_down: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        uncond = denoised if tap is None else tap.latest(name)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigma_down == 0 or old_denoised is None or old_sigma_down is None:
            d = to_d(x, sigmas[i], uncond)
            x = denoised + d * sigma_down if tap is not None else x + d * (sigma_down - sigmas[i])
        else:
            t, t_old = -sigmas[i].log(), -old_sigma_down.log()
            t_next, t_prev = -sigma_down.log(), -sigmas[i - 1].log()
            h = t_next - t
            b1, b2 = _phi_coefficients(h, (t_prev - t_old) / h)
            if tap is not None:
                x = x + (denoised - uncond)
            x = (-h).exp() * x + h * (b1 * uncond + b2 * old_denoised)
        if sigmas[i + 1] > 0 and eta > 0:
            noise = require_noise(noise_sampler, name)(sigmas[i], sigmas[i + 1])
            x = x + noise * s_noise * sigma_up
        old_denoised, old_sigma_down = uncond, sigma_down
    return x


def sample_res_multistep(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """RES second-order multistep (deterministic; Euler for the first and last step)."""
    return _res_multistep(model, x, sigmas, extra_args, callback, None, 0.0, 1.0, None,
                          "res_multistep")


def sample_res_multistep_cfg_pp(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    uncond: UncondTap | None = None,
) -> Tensor:
    """RES multistep with CFG++ steps."""
    name = "res_multistep_cfg_pp"
    return _res_multistep(model, x, sigmas, extra_args, callback, None, 0.0, 1.0,
                          require_uncond(uncond, name), name)


def sample_res_multistep_ancestral(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> Tensor:
    """RES multistep down to sigma_down, then noise back up to sigma_next."""
    name = "res_multistep_ancestral"
    if eta > 0:
        require_noise(noise_sampler, name)
    return _res_multistep(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise,
                          None, name)


def sample_res_multistep_ancestral_cfg_pp(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    uncond: UncondTap | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> Tensor:
    """Ancestral RES multistep with CFG++ steps."""
    name = "res_multistep_ancestral_cfg_pp"
    if eta > 0:
        require_noise(noise_sampler, name)
    return _res_multistep(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise,
                          require_uncond(uncond, name), name)
