"""DPM-Solver++ SDE samplers: dpmpp_sde, dpmpp_2m_sde, dpmpp_3m_sde.

ComfyUI drives these with Brownian-tree noise (``brownian_tree_noise_sampler``) so the result
does not depend on how finely the interval is stepped; any noise sampler is accepted here.
Formulas in half-log-SNR lambda = -log sigma (eps / v models, where alpha = 1).
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, ancestral_step, report, require_noise


def sample_dpmpp_sde(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r: float = 1 / 2,
) -> Tensor:
    """DPM-Solver++ (stochastic, single-step second order with an intermediate point at ratio r)."""
    if len(sigmas) <= 1:
        return x
    noise_sampler = require_noise(noise_sampler, "dpmpp_sde")
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
        lambda_s_1 = lambda_s + r * h
        fac = 1 / (2 * r)
        sigma_s_1 = (-lambda_s_1).exp()
        # Step 1: to the intermediate point.
        sd, su = ancestral_step((-lambda_s).exp(), sigma_s_1, eta)
        h_ = -sd.log() - lambda_s
        x_2 = (-h_).exp() * x - (-h_).expm1() * denoised
        if eta > 0 and s_noise > 0:
            x_2 = x_2 + noise_sampler(sigmas[i], sigma_s_1) * s_noise * su
        denoised_2 = model(x_2, sigma_s_1 * s_in, **extra_args)
        # Step 2: to sigma_next with the combined derivative.
        sd, su = ancestral_step((-lambda_s).exp(), (-lambda_t).exp(), eta)
        h_ = -sd.log() - lambda_s
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (-h_).exp() * x - (-h_).expm1() * denoised_d
        if eta > 0 and s_noise > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * su
    return x


def sample_dpmpp_2m_sde(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    solver_type: Literal["midpoint", "heun"] = "midpoint",
) -> Tensor:
    """DPM-Solver++(2M) SDE (midpoint by default, as ComfyUI's ``dpmpp_2m_sde``)."""
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type must be 'midpoint' or 'heun', got {solver_type!r}")
    if len(sigmas) <= 1:
        return x
    noise_sampler = require_noise(noise_sampler, "dpmpp_2m_sde")
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    old_denoised: Tensor | None = None
    h: Tensor | None = None
    h_last: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = sigmas[i].log() - sigmas[i + 1].log()
            h_eta = h * (eta + 1)
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + (-h_eta).expm1().neg() * denoised
            if old_denoised is not None and h_last is not None:
                r = h_last / h
                if solver_type == "heun":
                    coeff = (-h_eta).expm1().neg() / (-h_eta) + 1
                else:
                    coeff = 0.5 * (-h_eta).expm1().neg()
                x = x + coeff * (1 / r) * (denoised - old_denoised)
            if eta > 0 and s_noise > 0:
                noise = noise_sampler(sigmas[i], sigmas[i + 1])
                x = x + noise * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        old_denoised = denoised
        h_last = h
    return x


def sample_dpmpp_3m_sde(
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
    """DPM-Solver++(3M) SDE: third-order multistep after two warm-up steps."""
    if len(sigmas) <= 1:
        return x
    noise_sampler = require_noise(noise_sampler, "dpmpp_3m_sde")
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    denoised_1: Tensor | None = None
    denoised_2: Tensor | None = None
    h: Tensor | None = None
    h_1: Tensor | None = None
    h_2: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = sigmas[i].log() - sigmas[i + 1].log()
            h_eta = h * (eta + 1)
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + (-h_eta).expm1().neg() * denoised
            x = x + _multistep_correction(denoised, denoised_1, denoised_2, h, h_1, h_2, h_eta)
            if eta > 0 and s_noise > 0:
                noise = noise_sampler(sigmas[i], sigmas[i + 1])
                x = x + noise * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


def _multistep_correction(
    denoised: Tensor,
    denoised_1: Tensor | None,
    denoised_2: Tensor | None,
    h: Tensor,
    h_1: Tensor | None,
    h_2: Tensor | None,
    h_eta: Tensor,
) -> Tensor | float:
    """The 3M (or, while warming up, 2M) correction term of dpmpp_3m_sde."""
    phi_2 = h_eta.neg().expm1() / h_eta + 1
    if h_2 is not None and h_1 is not None and denoised_1 is not None and denoised_2 is not None:
        r0, r1 = h_1 / h, h_2 / h
        d1_0 = (denoised - denoised_1) / r0
        d1_1 = (denoised_1 - denoised_2) / r1
        d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
        d2 = (d1_0 - d1_1) / (r0 + r1)
        phi_3 = phi_2 / h_eta - 0.5
        return phi_2 * d1 - phi_3 * d2
    if h_1 is not None and denoised_1 is not None:
        return phi_2 * (denoised - denoised_1) / (h_1 / h)
    return 0.0
