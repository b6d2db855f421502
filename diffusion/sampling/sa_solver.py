"""SA-Solver (Xue et al. 2023, "SA-Solver: Stochastic Adams Solver for Fast Sampling of Diffusion
Models", arXiv:2309.05019), data prediction in lambda = -log sigma, as ComfyUI's ``sa_solver`` /
``sa_solver_pece``: a stochastic Adams predictor of order ``predictor_order`` and corrector of
order ``corrector_order`` (PECE: the corrected state is evaluated again). The stochasticity tau is
``eta`` for sigmas inside [sde_end_sigma, sde_start_sigma] and 0 outside; by default that window
is 20 %..80 % of the model's schedule (its ``percent_to_sigma``). Orders drop near the end of a
schedule that ends at 0.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser, ModelSampling
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, report, require_noise

SDE_START_PERCENT, SDE_END_PERCENT = 0.2, 0.8


def exponential_coefficients(s: Tensor, t: Tensor, order: int, tau: float) -> Tensor:
    """(1 + tau^2) * integral_s^t exp((1 + tau^2)(x - t)) x^p dx for p < order (by parts)."""
    tau_mul = 1 + tau**2
    p = torch.arange(order, dtype=s.dtype, device=s.device)
    ends = t**p - s**p * (-tau_mul * (t - s)).exp()
    depth = p.unsqueeze(1) - p.unsqueeze(0)
    log_factorial = (p + 1).lgamma()
    log_coeff = log_factorial.unsqueeze(1) - log_factorial.unsqueeze(0)
    if tau > 0:
        log_coeff = log_coeff - depth * math.log(tau_mul)
    signs = torch.where(depth % 2 == 0, 1.0, -1.0).to(s)
    return (log_coeff.exp() * signs).tril() @ ends


def adams_coefficients(lambdas: Tensor, lambda_s: Tensor, lambda_t: Tensor, tau: float,
                       simple_order_2: bool = False, corrector: bool = False) -> Tensor:
    """Weights b_i of the data predictions at ``lambdas`` for the step lambda_s -> lambda_t
    (paper eqs. 15 and 18; alpha_t = 1), in the order of ``lambdas``."""
    n = lambdas.shape[0]
    if simple_order_2 and n == 2:  # the paper's simplified order-2 scheme (Appendix D)
        tau_mul = 1 + tau**2
        h = lambda_t - lambda_s
        if corrector:
            b_1 = 0.5 * tau_mul * h
            return torch.stack([(-h * tau_mul).expm1().neg() - b_1, b_1])
        b_2 = 0.5 * tau_mul * h**2 / (lambdas[-2] - lambda_s)
        return torch.stack([b_2, (-h * tau_mul).expm1().neg() - b_2])
    integrals = exponential_coefficients(lambda_s, lambda_t, n, tau)
    vandermonde_t = torch.vander(lambdas, n, increasing=True).T  # (n, n)
    weights: Tensor = torch.linalg.solve(vandermonde_t, integrals)  # (n,)
    return weights


def _combine(predictions: list[Tensor], weights: Tensor) -> Tensor:
    stacked = torch.stack(predictions, dim=1)  # (B, K, C, H, W)
    combined: Tensor = torch.tensordot(stacked, weights.to(stacked), dims=([1], [0]))
    return combined  # (B, C, H, W)


def _tau_window(sde_start_sigma: float | None, sde_end_sigma: float | None,
                model_sampling: ModelSampling | None) -> tuple[float, float]:
    if sde_start_sigma is not None and sde_end_sigma is not None:
        return sde_start_sigma, sde_end_sigma
    if model_sampling is None:
        raise ValueError("sa_solver needs sde_start_sigma and sde_end_sigma, or model_sampling "
                         "to place its default 20%..80% stochastic window")
    return (model_sampling.percent_to_sigma(SDE_START_PERCENT),
            model_sampling.percent_to_sigma(SDE_END_PERCENT))


def sample_sa_solver(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    model_sampling: ModelSampling | None = None,
    eta: float = 1.0,
    sde_start_sigma: float | None = None,
    sde_end_sigma: float | None = None,
    s_noise: float = 1.0,
    predictor_order: int = 3,
    corrector_order: int = 4,
    use_pece: bool = False,
    simple_order_2: bool = False,
) -> Tensor:
    """SA-Solver; ``sample_sa_solver_pece`` is the same with ``use_pece=True``."""
    if len(sigmas) <= 1:
        return x
    start, end = _tau_window(sde_start_sigma, sde_end_sigma, model_sampling)
    stochastic = eta > 0 and s_noise > 0 and start >= end
    if stochastic:
        noise_sampler = require_noise(noise_sampler, "sa_solver_pece" if use_pece else "sa_solver")
    state = _SAState(model, sigmas, extra_args or {}, callback, noise_sampler,
                     lambda sigma: eta if eta > 0 and start >= float(sigma) >= end else 0.0,
                     s_noise, predictor_order, corrector_order, use_pece, simple_order_2)
    return state.run(x)


def sample_sa_solver_pece(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    **options: Any,
) -> Tensor:
    """SA-Solver in Predict-Evaluate-Correct-Evaluate mode."""
    return sample_sa_solver(model, x, sigmas, extra_args=extra_args, callback=callback,
                            noise_sampler=noise_sampler, **{**options, "use_pece": True})


class _SAState:
    """One SA-Solver run: the predictor / corrector loop over ``sigmas``."""

    def __init__(self, model: Denoiser, sigmas: Tensor, extra_args: dict[str, Any],
                 callback: StepCallback | None, noise_sampler: NoiseSampler | None,
                 tau_fn: Any, s_noise: float, predictor_order: int, corrector_order: int,
                 use_pece: bool, simple_order_2: bool) -> None:
        if predictor_order < 1 or corrector_order < 0:
            raise ValueError(f"need predictor_order >= 1 and corrector_order >= 0, got "
                             f"{predictor_order!r}, {corrector_order!r}")
        self.model, self.sigmas, self.extra_args = model, sigmas, extra_args
        self.callback, self.noise_sampler, self.tau_fn = callback, noise_sampler, tau_fn
        self.s_noise, self.use_pece, self.simple = s_noise, use_pece, simple_order_2
        self.p_order, self.c_order = predictor_order, corrector_order
        self.lambdas = -sigmas.log()  # inf at sigma = 0 (never used there)
        self.tau: float = 0.0
        self.h: Tensor = sigmas.new_zeros(())
        self.noise: Tensor | float = 0.0

    def _orders(self, i: int, available: int) -> tuple[int, int]:
        n, sigmas = len(self.sigmas), self.sigmas
        p_used = min(self.p_order, available)
        last = bool(sigmas[i + 1] == 0) and not self.use_pece
        c_used = 0 if i == 0 or last else min(self.c_order, available)
        if float(sigmas[-1]) == 0:  # lower the orders towards the end for stability
            p_used, c_used = min(p_used, n - 2 - i), min(c_used, n - 1 - i)
        return p_used, c_used

    def _correct(self, x: Tensor, i: int, order: int, preds: list[Tensor]) -> Tensor:
        lam = self.lambdas
        b = adams_coefficients(lam[i - order + 1:i + 1], lam[i - 1], lam[i], self.tau,
                               self.simple, corrector=True)
        decay = self.sigmas[i] / self.sigmas[i - 1] * (-(self.tau**2) * self.h).exp()
        x = decay * x + _combine(preds[-order:], b)
        if self.tau > 0 and self.s_noise > 0:
            x = x + self.noise  # the predictor's noise of this interval
        return x

    def _predict(self, x: Tensor, i: int, order: int, preds: list[Tensor]) -> Tensor:
        lam, sigmas = self.lambdas, self.sigmas
        self.tau = self.tau_fn(sigmas[i + 1])
        b = adams_coefficients(lam[i - order + 1:i + 1], lam[i], lam[i + 1], self.tau,
                               self.simple, corrector=False)
        self.h = lam[i + 1] - lam[i]
        x_pred = sigmas[i + 1] / sigmas[i] * (-(self.tau**2) * self.h).exp() * x
        x_pred = x_pred + _combine(preds[-order:], b)
        if self.tau > 0 and self.s_noise > 0 and self.noise_sampler is not None:
            std = (-2 * self.tau**2 * self.h).expm1().neg().sqrt()
            self.noise = self.noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * std \
                * self.s_noise
            x_pred = x_pred + self.noise
        return x_pred

    def run(self, x: Tensor) -> Tensor:
        s_in = x.new_ones([x.shape[0]])
        sigmas, x_pred = self.sigmas, x
        preds: list[Tensor] = []
        keep = max(self.p_order, self.c_order)
        for i in range(len(sigmas) - 1):
            denoised = self.model(x_pred, sigmas[i] * s_in, **self.extra_args)
            report(self.callback, i, x_pred, sigmas[i], sigmas[i], denoised)
            preds = [*preds, denoised][-keep:]
            p_used, c_used = self._orders(i, len(preds))
            if c_used == 0:
                x = x_pred
            else:
                x = self._correct(x, i, c_used, preds)
                if self.use_pece:
                    denoised = self.model(x, sigmas[i] * s_in, **self.extra_args)
                    preds[-1] = denoised
            x_pred = denoised if sigmas[i + 1] == 0 else self._predict(x, i, p_used, preds)
        return x_pred
