"""SEEDS-2 and SEEDS-3 (Gonzalez et al. 2023, "SEEDS: Exponential SDE Solvers for Fast
High-Quality Sampling from Diffusion Models", arXiv:2305.14267), data-prediction stage-2 / 3
exponential SDE solvers in half-log-SNR lambda = -log sigma, as ComfyUI's ``seeds_2`` /
``seeds_3``. The noise of a step is built from one draw per sub-interval so the sub-steps share a
consistent Brownian path; ``eta`` scales the stochasticity (0: the exponential ODE solver).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, report, require_noise


def phi_1(h: Tensor) -> Tensor:
    """h * phi_1(h) of exponential integrators: e^h - 1."""
    return torch.expm1(h)


def phi_2(h: Tensor) -> Tensor:
    """h * phi_2(h): (e^h - 1 - h) / h."""
    return (torch.expm1(h) - h) / h


class _SubNoise:
    """The SDE noise of one step, extended sub-interval by sub-interval (see module doc)."""

    def __init__(self, noise_sampler: NoiseSampler | None, h_eta: Tensor) -> None:
        self.noise_sampler, self.h_eta = noise_sampler, h_eta  # h_eta = h * eta
        self.noise: Tensor | None = None

    def extend(self, r_from: float, r_to: float, sigma: Tensor, sigma_next: Tensor) -> Tensor:
        """Noise at the end of [lambda_s + r_from h, lambda_s + r_to h], unscaled by sigma."""
        if self.noise_sampler is None:
            raise ValueError("SEEDS noise needs a noise sampler")
        factor = (r_from - r_to) * self.h_eta
        fresh = factor.mul(2).expm1().neg().sqrt() * self.noise_sampler(sigma, sigma_next)
        self.noise = fresh if self.noise is None else self.noise * factor.exp() + fresh
        return self.noise


def _step_state(x: Tensor, sigma: Tensor, sigma_r: Tensor, r: float, h: Tensor,
                eta: float) -> Tensor:
    """The ODE part carried from sigma to the sub-point at ratio r: sigma_r/sigma e^(-r h eta)."""
    return sigma_r / sigma * (-r * h * eta).exp() * x


def sample_seeds_2(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r: float = 0.5,
    solver_type: Literal["phi_1", "phi_2"] = "phi_1",
) -> Tensor:
    """SEEDS-2: one intermediate evaluation at ratio ``r`` of the step in lambda."""
    if solver_type not in ("phi_1", "phi_2"):
        raise ValueError(f"solver_type must be 'phi_1' or 'phi_2', got {solver_type!r}")
    inject = eta > 0 and s_noise > 0
    if inject:
        noise_sampler = require_noise(noise_sampler, "seeds_2")
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = -sigmas[i].log(), -sigmas[i + 1].log()
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        sigma_1 = (-torch.lerp(lambda_s, lambda_t, r)).exp()
        noise = _SubNoise(noise_sampler, h * eta)
        x_2 = _step_state(x, sigmas[i], sigma_1, r, h, eta) - phi_1(-r * h_eta) * denoised
        if inject:
            x_2 = x_2 + noise.extend(0.0, r, sigmas[i], sigma_1) * sigma_1 * s_noise
        denoised_2 = model(x_2, sigma_1 * s_in, **extra_args)
        if solver_type == "phi_1":
            blended = phi_1(-h_eta) * torch.lerp(denoised, denoised_2, 1 / (2 * r))
        else:
            b2 = phi_2(-h_eta) / r
            blended = (phi_1(-h_eta) - b2) * denoised + b2 * denoised_2
        x = _step_state(x, sigmas[i], sigmas[i + 1], 1.0, h, eta) - blended
        if inject:
            x = x + noise.extend(r, 1.0, sigma_1, sigmas[i + 1]) * sigmas[i + 1] * s_noise
    return x


def sample_seeds_3(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r_1: float = 1.0 / 3,
    r_2: float = 2.0 / 3,
) -> Tensor:
    """SEEDS-3: intermediate evaluations at ratios ``r_1`` and ``r_2`` of the step."""
    inject = eta > 0 and s_noise > 0
    if inject:
        noise_sampler = require_noise(noise_sampler, "seeds_3")
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = -sigmas[i].log(), -sigmas[i + 1].log()
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        sigma_1 = (-torch.lerp(lambda_s, lambda_t, r_1)).exp()
        sigma_2 = (-torch.lerp(lambda_s, lambda_t, r_2)).exp()
        noise = _SubNoise(noise_sampler, h * eta)
        x_2 = _step_state(x, sigmas[i], sigma_1, r_1, h, eta) - phi_1(-r_1 * h_eta) * denoised
        if inject:
            x_2 = x_2 + noise.extend(0.0, r_1, sigmas[i], sigma_1) * sigma_1 * s_noise
        denoised_2 = model(x_2, sigma_1 * s_in, **extra_args)
        a3_2 = r_2 / r_1 * phi_2(-r_2 * h_eta)
        a3_1 = phi_1(-r_2 * h_eta) - a3_2
        x_3 = _step_state(x, sigmas[i], sigma_2, r_2, h, eta) - (a3_1 * denoised
                                                                  + a3_2 * denoised_2)
        if inject:
            x_3 = x_3 + noise.extend(r_1, r_2, sigma_1, sigma_2) * sigma_2 * s_noise
        denoised_3 = model(x_3, sigma_2 * s_in, **extra_args)
        b3 = phi_2(-h_eta) / r_2
        b1 = phi_1(-h_eta) - b3
        x = _step_state(x, sigmas[i], sigmas[i + 1], 1.0, h, eta) - (b1 * denoised
                                                                      + b3 * denoised_3)
        if inject:
            x = x + noise.extend(r_2, 1.0, sigma_2, sigmas[i + 1]) * sigmas[i + 1] * s_noise
    return x
