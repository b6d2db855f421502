"""DEIS (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator",
arXiv:2204.13902), the time-based Adams-Bashforth variant (tAB), as ComfyUI's ``deis`` runs it
(after zju-pi/diff-sampler): the sigmas are mapped to the time t of a VP SDE fitted to
sigma in [0.002, 80] with eps_s = 1e-3; step i integrates ``dsigma/dt`` against the Lagrange
basis of the last ``order`` times with a 10000-point Riemann sum, and multiplies the stored
slopes ``(x - x0) / sigma`` by those weights. The step to sigma = 0 is an Euler step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, report, to_d

VP_EPS_S, VP_SIGMA_MIN, VP_SIGMA_MAX = 1e-3, 0.002, 80.0
QUADRATURE_POINTS = 10000
DEIS_ORDER = 3


def vp_parameters() -> tuple[float, float]:
    """(beta_min, beta_d) of the VP SDE with sigma(eps_s) = 0.002 and sigma(1) = 80."""
    log_min, log_max = math.log(VP_SIGMA_MIN**2 + 1), math.log(VP_SIGMA_MAX**2 + 1)
    beta_d = 2 * (log_min / VP_EPS_S - log_max) / (VP_EPS_S - 1)
    return log_max - 0.5 * beta_d, beta_d


def sigma_to_vp_time(sigmas: Tensor) -> Tensor:
    """The VP time t with sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1), float64."""
    beta_min, beta_d = vp_parameters()
    s = sigmas.double()
    return ((beta_min**2 + 2 * beta_d * (s**2 + 1).log()).sqrt() - beta_min) / beta_d


def _dsigma_dt(taus: Tensor) -> Tensor:
    """d sigma / d t along the VP SDE (log alpha = -t^2 (beta_1 - beta_0) / 2 - t beta_0)."""
    beta_0, beta_d = vp_parameters()
    alpha = torch.exp(-0.5 * taus**2 * beta_d - taus * beta_0)
    dlog_alpha = -taus * beta_d - beta_0
    return -0.5 * dlog_alpha / torch.sqrt(alpha * (1 - alpha))


def deis_coefficients(sigmas: Tensor, max_order: int = DEIS_ORDER) -> list[list[float]]:
    """Per step, the weights of the current and previous slopes ([] for Euler steps: the
    first one and every step to sigma = 0)."""
    ts = sigma_to_vp_time(sigmas)
    coefficients: list[list[float]] = []
    for i in range(len(sigmas) - 1):
        order = min(i + 1, max_order)
        if order == 1 or float(sigmas[i + 1]) <= 0:
            coefficients.append([])
            continue
        taus = torch.linspace(float(ts[i]), float(ts[i + 1]), QUADRATURE_POINTS,
                              dtype=torch.float64)
        dtau = (ts[i + 1] - ts[i]) / QUADRATURE_POINTS
        nodes = ts[[i - k for k in range(order)]]
        integrand = _dsigma_dt(taus)
        weights = []
        for j in range(order):
            basis = torch.ones_like(taus)
            for k in range(order):
                if k != j:
                    basis = basis * (taus - nodes[k]) / (nodes[j] - nodes[k])
            weights.append(float(torch.sum(integrand * basis) * dtau))
        coefficients.append(weights)
    return coefficients


def sample_deis(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    max_order: int = DEIS_ORDER,
) -> Tensor:
    """DEIS-tAB of order ``max_order`` (1..4), warming up from Euler."""
    if not 1 <= max_order <= 4:
        raise ValueError(f"max_order must be in [1, 4], got {max_order!r}")
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    coefficients = deis_coefficients(sigmas, max_order)
    history: list[Tensor] = []  # slopes, newest last
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        weights = coefficients[i]
        if not weights:
            x_next = x + (sigmas[i + 1] - sigmas[i]) * d
        else:
            slopes = [d, *reversed(history[-(len(weights) - 1):])]
            x_next = x + sum(w * s for w, s in zip(weights, slopes, strict=True))
        history = [*history, d][-max(max_order - 1, 1):]
        x = x_next
    return x
