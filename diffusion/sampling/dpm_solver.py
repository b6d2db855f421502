"""DPM-Solver (Lu et al. 2022, arXiv:2206.00927) in k-diffusion's formulation, as ComfyUI's
``dpm_fast`` (fixed steps, orders 3, ..., 3, then 2, 1 or the remainder, spending as many model
calls as the schedule has steps) and ``dpm_adaptive`` (embedded DPM-Solver-12 / 23 pairs with a
PID step-size controller). Both solve from sigmas[0] down to the smallest positive sigma of the
schedule (the final step to 0 is not taken, as in ComfyUI). Time is t = -log sigma; ``eps`` is
the noise prediction ``(x - x0) / sigma``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, ancestral_step, report, require_noise


def _sigma(t: Tensor) -> Tensor:
    return t.neg().exp()


@dataclass
class _Eps:
    """Noise predictions of one step, cached by stage name (a k-diffusion ``eps_cache``)."""

    model: Denoiser
    extra_args: dict[str, Any]
    cache: dict[str, Tensor] = field(default_factory=dict)

    def __call__(self, key: str, x: Tensor, t: Tensor) -> Tensor:
        if key not in self.cache:
            sigma = _sigma(t)
            denoised = self.model(x, sigma * x.new_ones([x.shape[0]]), **self.extra_args)
            self.cache[key] = (x - denoised) / sigma
        return self.cache[key]


def dpm_solver_step(eps: _Eps, x: Tensor, t: Tensor, t_next: Tensor, order: int,
                    r1: float | None = None) -> Tensor:
    """One DPM-Solver-1/2/3 step from t to t_next (r1: the 2nd-order intermediate ratio)."""
    h = t_next - t
    e = eps("eps", x, t)
    x_1 = x - _sigma(t_next) * h.expm1() * e
    if order == 1:
        return x_1
    if order == 2:
        r = 1 / 2 if r1 is None else r1
        s1 = t + r * h
        e_1 = eps("eps_r1", x - _sigma(s1) * (r * h).expm1() * e, s1)
        return x_1 - _sigma(t_next) / (2 * r) * h.expm1() * (e_1 - e)
    r1_, r2 = 1 / 3, 2 / 3
    s1, s2 = t + r1_ * h, t + r2 * h
    e_1 = eps("eps_r1", x - _sigma(s1) * (r1_ * h).expm1() * e, s1)
    u_2 = (x - _sigma(s2) * (r2 * h).expm1() * e
           - _sigma(s2) * (r2 / r1_) * ((r2 * h).expm1() / (r2 * h) - 1) * (e_1 - e))
    e_2 = eps("eps_r2", u_2, s2)
    return x_1 - _sigma(t_next) / r2 * (h.expm1() / h - 1) * (e_2 - e)


def _range(sigmas: Tensor) -> tuple[Tensor, Tensor]:
    """(t_start, t_end): -log of sigmas[0] and of the last positive sigma."""
    sigma_min = sigmas[-1] if sigmas[-1] != 0 else sigmas[-2]
    if sigma_min <= 0 or sigmas[0] <= 0:
        raise ValueError(f"dpm_fast / dpm_adaptive need positive sigmas, got {sigmas.tolist()}")
    return -sigmas[0].log(), -sigma_min.log()


def _ancestral_target(t: Tensor, t_next: Tensor, t_end: Tensor,
                      eta: float) -> tuple[Tensor, Tensor | float]:
    """(t_next_, sigma_up): where the deterministic step ends and the noise added back."""
    if not eta:
        return t_next, 0.0
    sigma_down, _ = ancestral_step(_sigma(t), _sigma(t_next), eta)
    t_down = torch.minimum(t_end, -sigma_down.log())
    return t_down, (_sigma(t_next) ** 2 - _sigma(t_down) ** 2) ** 0.5


def fast_orders(nfe: int) -> list[int]:
    """DPM-Solver-fast's step orders for ``nfe`` model calls (Lu et al., Sec. 3.4)."""
    steps = nfe // 3 + 1
    if nfe % 3 == 0:
        return [3] * (steps - 2) + [2, 1]
    return [3] * (steps - 1) + [nfe % 3]


def sample_dpm_fast(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 0.0,
    s_noise: float = 1.0,
) -> Tensor:
    """DPM-Solver-fast with ``len(sigmas) - 1`` model calls on an even grid in log sigma."""
    if len(sigmas) <= 1:
        return x
    if eta:
        noise_sampler = require_noise(noise_sampler, "dpm_fast")
    t_start, t_end = _range(sigmas)
    orders = fast_orders(len(sigmas) - 1)
    ts = torch.linspace(float(t_start), float(t_end), len(orders) + 1, dtype=sigmas.dtype,
                        device=x.device)
    ts[0], ts[-1] = t_start, t_end
    for i, order in enumerate(orders):
        eps = _Eps(model, extra_args or {})
        t, t_next = ts[i], ts[i + 1]
        t_next_, sigma_up = _ancestral_target(t, t_next, t_end, eta)
        e = eps("eps", x, t)
        sigma = sigmas[0] if i == 0 else _sigma(t)
        report(callback, i, x, sigma, sigma, x - _sigma(t) * e)
        x = dpm_solver_step(eps, x, t, t_next_, order)
        if eta and noise_sampler is not None:
            x = x + sigma_up * s_noise * noise_sampler(_sigma(t), _sigma(t_next))
    return x


@dataclass
class PIDStepSizeController:
    """Step-size control h *= limiter(errs0^b1 errs1^b2 errs2^b3) of the inverse errors."""

    h: float
    pcoeff: float
    icoeff: float
    dcoeff: float
    order: float
    accept_safety: float
    eps: float = 1e-8
    errs: list[float] = field(default_factory=list)

    def propose_step(self, error: float) -> bool:
        b1 = (self.pcoeff + self.icoeff + self.dcoeff) / self.order
        b2 = -(self.pcoeff + 2 * self.dcoeff) / self.order
        b3 = self.dcoeff / self.order
        inv_error = 1 / (float(error) + self.eps)
        if not self.errs:
            self.errs = [inv_error] * 3
        self.errs[0] = inv_error
        factor = self.errs[0] ** b1 * self.errs[1] ** b2 * self.errs[2] ** b3
        factor = 1 + math.atan(factor - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2], self.errs[1] = self.errs[1], self.errs[0]
        self.h *= factor
        return accept


def _adaptive_pair(eps: _Eps, x: Tensor, s: Tensor, t: Tensor, order: int) -> tuple[Tensor, Tensor]:
    """(lower-order, higher-order) solutions of an embedded pair from s to t."""
    if order == 2:
        return dpm_solver_step(eps, x, s, t, 1), dpm_solver_step(eps, x, s, t, 2)
    return dpm_solver_step(eps, x, s, t, 2, r1=1 / 3), dpm_solver_step(eps, x, s, t, 3)


def sample_dpm_adaptive(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    order: int = 3,
    rtol: float = 0.05,
    atol: float = 0.0078,
    h_init: float = 0.05,
    pcoeff: float = 0.0,
    icoeff: float = 1.0,
    dcoeff: float = 0.0,
    accept_safety: float = 0.81,
    eta: float = 0.0,
    s_noise: float = 1.0,
) -> Tensor:
    """Adaptive DPM-Solver-12 (order 2) or -23 (order 3) between sigmas[0] and the smallest
    positive sigma (only the schedule's ends matter). The callback reports every attempted
    step, accepted or not, as step ``min(attempt, len(sigmas) - 2)`` (the count is not known in
    advance)."""
    if order not in (2, 3):
        raise ValueError(f"order must be 2 or 3, got {order!r}")
    if len(sigmas) <= 1:
        return x
    if eta:
        noise_sampler = require_noise(noise_sampler, "dpm_adaptive")
    s, t_end = _range(sigmas)
    forward = bool(t_end > s)
    pid = PIDStepSizeController(abs(h_init) * (1 if forward else -1), pcoeff, icoeff, dcoeff,
                                1.5 if eta else order, accept_safety)
    x_prev, attempt = x, 0
    while (s < t_end - 1e-5) if forward else (s > t_end + 1e-5):
        eps = _Eps(model, extra_args or {})
        t = torch.minimum(t_end, s + pid.h) if forward else torch.maximum(t_end, s + pid.h)
        t_, sigma_up = _ancestral_target(s, t, t_end, eta)
        e = eps("eps", x, s)
        sigma = sigmas[0] if attempt == 0 else _sigma(s)
        report(callback, min(attempt, len(sigmas) - 2), x, sigma, sigma, x - _sigma(s) * e)
        x_low, x_high = _adaptive_pair(eps, x, s, t_, order)
        delta = torch.maximum(torch.tensor(atol), rtol * torch.maximum(x_low.abs(), x_prev.abs()))
        error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
        if pid.propose_step(float(error)):
            x_prev = x_low
            x = x_high
            if eta and noise_sampler is not None:
                x = x + sigma_up * s_noise * noise_sampler(_sigma(s), _sigma(t))
            s = t
        attempt += 1
    return x
