"""ER-SDE-Solver (Cui et al. 2023, "Elucidating the solution space of extended reverse-time SDE
for diffusion models", arXiv:2309.06169), the VP ER-SDE-Solver-3 as ComfyUI's ``er_sde``: a
first-order exponential step whose noise is shaped by a noise scaler ``f(lambda)`` (lambda =
sigma / alpha = sigma here), with second and third stages from finite differences of x0 whose
integrals of ``1 / f`` are taken by a 200-point Riemann sum. ``noise_scaler`` selects the solver:
the default ``x * (exp(x^0.3) + 10)`` is ER-SDE, ``x^(eta + 1)`` the reverse-time SDE, and
``x`` (with s_noise 0) the ODE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, report, require_noise

NoiseScaler = Callable[[Tensor], Tensor]
INTEGRATION_POINTS = 200


def er_sde_noise_scaler(x: Tensor) -> Tensor:
    """The paper's default noise scaler (ER-SDE-Solver's ``f(x) = x (e^(x^0.3) + 10)``)."""
    return x * ((x**0.3).exp() + 10.0)


def reverse_time_sde_noise_scaler(x: Tensor, eta: float = 1.0) -> Tensor:
    """``x^(eta + 1)``: the reverse-time SDE (eta = 1: its usual noise; eta = 0: the ODE)."""
    return x ** (eta + 1)


def _higher_stages(x: Tensor, lambdas: Tensor, i: int, stage: int, d_x0: Tensor,
                   d_x0_prev: Tensor | None, scaler: NoiseScaler) -> Tensor:
    """Adds the 2nd (and 3rd) stage terms to the first-order step into lambdas[i + 1]."""
    lam_s, lam_t = lambdas[i], lambdas[i + 1]
    dt = lam_t - lam_s
    step = -dt / INTEGRATION_POINTS
    points = torch.arange(0, INTEGRATION_POINTS, dtype=lambdas.dtype, device=lambdas.device)
    positions = lam_t + points * step
    scaled = scaler(positions)
    s = torch.sum(1 / scaled) * step
    x = x + (dt + s * scaler(lam_t)) * d_x0
    if stage >= 3 and d_x0_prev is not None:
        s_u = torch.sum((positions - lam_s) / scaled) * step
        d2_x0 = (d_x0 - d_x0_prev) / ((lam_s - lambdas[i - 2]) / 2)
        x = x + ((dt**2) / 2 + s_u * scaler(lam_t)) * d2_x0
    return x


def sample_er_sde(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    s_noise: float = 1.0,
    noise_scaler: NoiseScaler | None = None,
    max_stage: int = 3,
) -> Tensor:
    """ER-SDE-Solver with up to ``max_stage`` stages (1..3)."""
    if not 1 <= max_stage <= 3:
        raise ValueError(f"max_stage must be in [1, 3], got {max_stage!r}")
    if s_noise > 0:
        noise_sampler = require_noise(noise_sampler, "er_sde")
    scaler = er_sde_noise_scaler if noise_scaler is None else noise_scaler
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    lambdas = sigmas  # sigma / alpha with alpha = 1
    old_denoised: Tensor | None = None
    old_d_x0: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            r = scaler(lambdas[i + 1]) / scaler(lambdas[i])
            x = r * x + (1 - r) * denoised
            stage = min(max_stage, i + 1)
            if stage >= 2 and old_denoised is not None:
                d_x0 = (denoised - old_denoised) / (lambdas[i] - lambdas[i - 1])
                x = _higher_stages(x, lambdas, i, stage, d_x0, old_d_x0, scaler)
                old_d_x0 = d_x0
            if s_noise > 0 and noise_sampler is not None:
                std = (lambdas[i + 1] ** 2 - lambdas[i] ** 2 * r**2).sqrt().nan_to_num(nan=0.0)
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * std
        old_denoised = denoised
    return x
