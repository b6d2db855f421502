"""CFG++ samplers (Chung et al. 2024, "CFG++: Manifold-constrained Classifier Free Guidance",
arXiv:2406.08070), as ComfyUI's ``*_cfg_pp`` samplers: the step towards the next noise level
re-noises along the *unconditional* noise estimate ``(x - uncond) / sigma`` from the guided x0,
instead of the guided one. Each reads the unconditional x0 of its latest model call from the
run's :class:`~diffusion.sampling.uncond.UncondTap` (``uncond=``).

For the VE / eps / v models sampled here alpha = 1 in ComfyUI's half-log-SNR formulas.
"""

from __future__ import annotations

from typing import Any

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


def _euler_ancestral_cfg_pp(
    model: Denoiser, x: Tensor, sigmas: Tensor, extra_args: dict[str, Any] | None,
    callback: StepCallback | None, noise_sampler: NoiseSampler | None, tap: UncondTap,
    eta: float, s_noise: float, name: str,
) -> Tensor:
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        uncond = tap.latest(name)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        d = to_d(x, sigmas[i], uncond)  # the unconditional noise direction
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = denoised + sigma_down * d
        if eta > 0 and s_noise > 0:
            noise = require_noise(noise_sampler, name)(sigmas[i], sigmas[i + 1])
            x = x + noise * s_noise * sigma_up
    return x


def sample_euler_ancestral_cfg_pp(
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
    """Euler ancestral CFG++: ``x = x0_guided + sigma_down * (x - x0_uncond) / sigma``, then
    noise back up to sigma_next."""
    name = "euler_ancestral_cfg_pp"
    if eta > 0 and s_noise > 0:
        require_noise(noise_sampler, name)
    tap = require_uncond(uncond, name)
    return _euler_ancestral_cfg_pp(model, x, sigmas, extra_args, callback, noise_sampler, tap,
                                   eta, s_noise, name)


def sample_euler_cfg_pp(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    uncond: UncondTap | None = None,
) -> Tensor:
    """Euler CFG++ (DDIM with the unconditional noise): ``x = x0_guided + sigma_next *
    (x - x0_uncond) / sigma``."""
    tap = require_uncond(uncond, "euler_cfg_pp")
    return _euler_ancestral_cfg_pp(model, x, sigmas, extra_args, callback, None, tap, 0.0, 0.0,
                                   "euler_cfg_pp")


def sample_dpmpp_2s_ancestral_cfg_pp(
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
    """DPM-Solver++(2S) ancestral on the unconditional x0, plus the guidance vector
    ``x0_guided - x0_uncond`` of the step's first call (ComfyUI's formulation)."""
    name = "dpmpp_2s_ancestral_cfg_pp"
    noise_sampler = require_noise(noise_sampler, name)
    tap = require_uncond(uncond, name)
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        uncond_0 = tap.latest(name)
        guidance = denoised - uncond_0
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], uncond_0) * (sigma_down - sigmas[i])
        else:
            t, t_next = -sigmas[i].log(), -sigma_down.log()
            h = t_next - t
            s = t + h / 2
            x_2 = ((-s).exp() / (-t).exp()) * x - (-h / 2).expm1() * uncond_0
            model(x_2, (-s).exp() * s_in, **extra_args)  # evaluated for its uncond x0
            uncond_2 = tap.latest(name)
            x = ((-t_next).exp() / (-t).exp()) * x - (-h).expm1() * uncond_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
        x = x + guidance
    return x


def sample_dpmpp_2m_cfg_pp(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    uncond: UncondTap | None = None,
) -> Tensor:
    """DPM-Solver++(2M) CFG++: the multistep correction uses the guided x0 against the previous
    unconditional one; the re-noising uses the unconditional x0."""
    name = "dpmpp_2m_cfg_pp"
    tap = require_uncond(uncond, name)
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    old_uncond: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        uncond_i = tap.latest(name)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        t, t_next = -sigmas[i].log(), -sigmas[i + 1].log()
        h = t_next - t
        mix = -(-h).exp() * uncond_i
        if old_uncond is not None and sigmas[i + 1] != 0:
            r = (t + sigmas[i - 1].log()) / h
            mix = mix - (-h).expm1() * (1 / (2 * r)) * (denoised - old_uncond)
        x = denoised + mix + (-h).exp() * x
        old_uncond = uncond_i
    return x


def sample_euler_cfg_pp_alternative(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    uncond: UncondTap | None = None,
) -> Tensor:
    """SamplerEulerCFG++'s ``alternative`` version: an Euler step along
    ``(x - 2 x0_guided + x0_uncond) / sigma``."""
    name = "euler_cfg_pp_alternative"
    tap = require_uncond(uncond, name)
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        d = to_d(x - denoised + tap.latest(name), sigmas[i], denoised)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x
