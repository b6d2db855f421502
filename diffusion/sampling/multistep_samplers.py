"""Deterministic ODE samplers beyond k-diffusion's, as ComfyUI runs them: heunpp2 (Heun++), the
improved PNDM multistep methods ipndm / ipndm_v (Zhang & Chen 2023, "Fast Sampling of Diffusion
Models with Exponential Integrator", as in zju-pi/diff-sampler) and gradient estimation
(Permenter & Yuan 2024, "Interpreting and Improving Diffusion Models from an Optimization
Perspective"), with its CFG++ variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, report, to_d
from diffusion.sampling.uncond import UncondTap, require_uncond

IPNDM_ORDER = 4


def sample_heunpp2(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """Heun++: Euler into the last step, Heun with weights (1 - s1 / 2 s0, s1 / 2 s0) before it,
    else a three-point blend of the slopes at sigma, sigma_next and the sigma after
    (weights s1 / 3 s0 and s2 / 3 s0, s0 the first sigma)."""
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        d = to_d(x, sigmas[i], denoised)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == s_end:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sigmas[i + 1], model(x_2, sigmas[i + 1] * s_in, **extra_args))
        if sigmas[i + 2] == s_end:
            w_2 = sigmas[i + 1] / (2 * sigmas[0])
            x = x + (d * (1 - w_2) + d_2 * w_2) * dt
            continue
        x_3 = x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1])
        d_3 = to_d(x_3, sigmas[i + 2], model(x_3, sigmas[i + 2] * s_in, **extra_args))
        w_2, w_3 = sigmas[i + 1] / (3 * sigmas[0]), sigmas[i + 2] / (3 * sigmas[0])
        x = x + ((1 - w_2 - w_3) * d + w_2 * d_2 + w_3 * d_3) * dt
    return x


def _ipndm_slope(d: Tensor, history: Sequence[Tensor]) -> Tensor:
    """Adams-Bashforth with fixed (equal-step) coefficients, order = len(history) + 1."""
    if not history:
        return d
    if len(history) == 1:
        return (3 * d - history[-1]) / 2
    if len(history) == 2:
        return (23 * d - 16 * history[-1] + 5 * history[-2]) / 12
    return (55 * d - 59 * history[-1] + 37 * history[-2] - 9 * history[-3]) / 24


def _ipndm_v_slope(d: Tensor, history: Sequence[Tensor], sigmas: Tensor, i: int) -> Tensor:
    """Variable-step Adams-Bashforth in sigma (ipndm_v), order = len(history) + 1."""
    if not history:
        return d
    h_n, h_1 = sigmas[i + 1] - sigmas[i], sigmas[i] - sigmas[i - 1]
    c1, c2 = (2 + h_n / h_1) / 2, -(h_n / h_1) / 2
    if len(history) == 1:
        return c1 * d + c2 * history[-1]
    h_2 = sigmas[i - 1] - sigmas[i - 2]
    t1 = (1 - h_n / (3 * (h_n + h_1)) * (h_n * (h_n + h_1)) / (h_1 * (h_1 + h_2))) / 2
    if len(history) == 2:
        return ((c1 + t1) * d + (c2 - (1 + h_1 / h_2) * t1) * history[-1]
                + t1 * h_1 / h_2 * history[-2])
    h_3 = sigmas[i - 2] - sigmas[i - 3]
    ratio = h_1 * (h_1 + h_2) / (h_2 * (h_2 + h_3))
    t2 = ((1 - h_n / (3 * (h_n + h_1))) / 2 + (1 - h_n / (2 * (h_n + h_1))) * h_n
          / (6 * (h_n + h_1 + h_2))) * (h_n * (h_n + h_1) * (h_n + h_1 + h_2)) \
        / (h_1 * (h_1 + h_2) * (h_1 + h_2 + h_3))
    k1 = c1 + t1 + t2
    k2 = c2 - (1 + h_1 / h_2) * t1 - (1 + h_1 / h_2 + ratio) * t2
    k3 = t1 * h_1 / h_2 + (h_1 / h_2 + ratio * (1 + h_2 / h_3)) * t2
    k4 = -t2 * ratio * h_1 / h_2
    return k1 * d + k2 * history[-1] + k3 * history[-2] + k4 * history[-3]


def _ipndm(model: Denoiser, x: Tensor, sigmas: Tensor, extra_args: dict[str, Any] | None,
           callback: StepCallback | None, max_order: int, variable: bool) -> Tensor:
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    history: list[Tensor] = []  # the last max_order - 1 slopes
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x_next = denoised
        else:
            slope = _ipndm_v_slope(d, history, sigmas, i) if variable else _ipndm_slope(d, history)
            x_next = x + (sigmas[i + 1] - sigmas[i]) * slope
        history = [*history, d][-(max_order - 1):] if max_order > 1 else []
        x = x_next
    return x


def sample_ipndm(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    max_order: int = IPNDM_ORDER,
) -> Tensor:
    """iPNDM: Adams-Bashforth in sigma with equal-step coefficients, warming up from Euler."""
    return _ipndm(model, x, sigmas, extra_args, callback, max_order, variable=False)


def sample_ipndm_v(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    max_order: int = IPNDM_ORDER,
) -> Tensor:
    """iPNDM with variable-step Adams-Bashforth coefficients (exact for uneven sigmas)."""
    return _ipndm(model, x, sigmas, extra_args, callback, max_order, variable=True)


def _gradient_estimation(model: Denoiser, x: Tensor, sigmas: Tensor,
                         extra_args: dict[str, Any] | None, callback: StepCallback | None,
                         ge_gamma: float, tap: UncondTap | None, name: str) -> Tensor:
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    old_d: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        d = to_d(x, sigmas[i], denoised if tap is None else tap.latest(name))
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            x = x + d * dt if tap is None else denoised + d * sigmas[i + 1]
            if old_d is not None:
                x = x + (ge_gamma - 1) * (d - old_d) * dt
        old_d = d
    return x


def sample_gradient_estimation(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    ge_gamma: float = 2.0,
) -> Tensor:
    """Euler plus ``(ge_gamma - 1) * (d - d_prev) * dt``: the denoiser's error is estimated
    from the change of the slope between steps."""
    return _gradient_estimation(model, x, sigmas, extra_args, callback, ge_gamma, None,
                                "gradient_estimation")


def sample_gradient_estimation_cfg_pp(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    uncond: UncondTap | None = None,
    ge_gamma: float = 2.0,
) -> Tensor:
    """Gradient estimation with CFG++ steps (slope from the unconditional x0)."""
    name = "gradient_estimation_cfg_pp"
    tap = require_uncond(uncond, name)
    return _gradient_estimation(model, x, sigmas, extra_args, callback, ge_gamma, tap, name)
