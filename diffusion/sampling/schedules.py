"""Noise schedules: descending sigma tables ending in 0, with ComfyUI's meaning of each name.

Each ``sigmas_<name>`` returns float32 sigmas of length ``steps + 1`` (``ddim_uniform`` and
``beta`` may differ, exactly as in ComfyUI), computed with ComfyUI's arithmetic so the values are
bit-identical to its tables for the same model sampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType

import numpy as np
import scipy.stats
import torch
from torch import Tensor

from diffusion.sampling.model_sampling import ModelSampling


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")


def _append_zero(sigmas: Tensor) -> Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def sigmas_karras(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Karras et al. (2022): sigmas evenly spaced in sigma**(1/rho)."""
    _check_steps(steps)
    ramp = torch.linspace(0, 1, steps)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def sigmas_exponential(steps: int, sigma_min: float, sigma_max: float) -> Tensor:
    """Sigmas evenly spaced in log sigma."""
    _check_steps(steps)
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps).exp())


def _timestep_schedule(model_sampling: ModelSampling, steps: int, sgm: bool) -> Tensor:
    # discrete models: integer timesteps; continuous ones: float timesteps (as ComfyUI's tensors)
    start = model_sampling.timestep(model_sampling.sigma_max).item()
    end = model_sampling.timestep(model_sampling.sigma_min).item()
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(model_sampling.sigma(torch.tensor(end))), 0, abs_tol=0.00001):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigmas = model_sampling.sigma(timesteps)
    return _append_zero(sigmas) if append_zero else sigmas


def sigmas_normal(model_sampling: ModelSampling, steps: int) -> Tensor:
    """Timesteps evenly spaced from the last to the first (inclusive), log-sigma interpolated."""
    _check_steps(steps)
    return _timestep_schedule(model_sampling, steps, sgm=False)


def sigmas_sgm_uniform(model_sampling: ModelSampling, steps: int) -> Tensor:
    """As ``normal`` with ``steps + 1`` points and the last (timestep 0) dropped (SGM)."""
    _check_steps(steps)
    return _timestep_schedule(model_sampling, steps, sgm=True)


def sigmas_simple(model_sampling: ModelSampling, steps: int) -> Tensor:
    """Every ``len(sigmas) / steps``-th entry of the table from the top, no interpolation."""
    _check_steps(steps)
    table = model_sampling.sigmas
    stride = len(table) / steps
    picked = [float(table[-(1 + int(i * stride))]) for i in range(steps)]
    return torch.tensor([*picked, 0.0], dtype=torch.float32)


def sigmas_ddim_uniform(model_sampling: ModelSampling, steps: int) -> Tensor:
    """The DDIM reference schedule: timesteps 1, 1 + k, 1 + 2k, ... with k = T // steps, then 0.

    As in ComfyUI the count follows from the stride, so some step counts (e.g. 7) get one more.
    """
    _check_steps(steps)
    table = model_sampling.sigmas
    picked: list[float] = []
    if math.isclose(float(table[1]), 0, abs_tol=0.00001):
        steps += 1
    else:
        picked = [0.0]
    stride = max(len(table) // steps, 1)
    picked += [float(table[i]) for i in range(1, len(table), stride)]
    return torch.tensor(picked[::-1], dtype=torch.float32)


def sigmas_beta(
    model_sampling: ModelSampling, steps: int, alpha: float = 0.6, beta: float = 0.6
) -> Tensor:
    """Timesteps at quantiles of a Beta(alpha, beta) distribution (Lee et al. 2024), as ComfyUI.

    Repeated timesteps after rounding are collapsed, so few-step schedules may be shorter.
    """
    _check_steps(steps)
    total = len(model_sampling.sigmas) - 1
    quantiles = 1 - np.linspace(0, 1, steps, endpoint=False)
    timesteps = np.rint(scipy.stats.beta.ppf(quantiles, alpha, beta) * total)
    picked: list[float] = []
    last = -1.0
    for t in timesteps:
        if t != last:
            picked.append(float(model_sampling.sigmas[int(t)]))
        last = t
    return torch.tensor([*picked, 0.0], dtype=torch.float32)


def sigmas_linear_quadratic(
    model_sampling: ModelSampling,
    steps: int,
    threshold_noise: float = 0.025,
    linear_steps: int | None = None,
) -> Tensor:
    """Mochi's schedule (as ComfyUI's ``linear_quadratic``): 1 - sigma/sigma_max rises linearly
    to ``threshold_noise`` over the first ``linear_steps`` (default steps // 2), then
    quadratically to 1; scaled by sigma_max."""
    _check_steps(steps)
    if steps == 1:
        schedule = [1.0, 0.0]
    else:
        linear = steps // 2 if linear_steps is None else linear_steps
        ramp = [i * threshold_noise / linear for i in range(linear)]
        step_diff = linear - threshold_noise * steps
        quadratic_steps = steps - linear
        quad_coef = step_diff / (linear * quadratic_steps**2)
        lin_coef = threshold_noise / linear - 2 * step_diff / (quadratic_steps**2)
        const = quad_coef * (linear**2)
        curve = [quad_coef * (i**2) + lin_coef * i + const for i in range(linear, steps)]
        schedule = [1.0 - v for v in [*ramp, *curve, 1.0]]
    return torch.tensor(schedule, dtype=torch.float32) * model_sampling.sigma_max.cpu()


def sigmas_kl_optimal(steps: int, sigma_min: float, sigma_max: float) -> Tensor:
    """The KL-optimal schedule of Align Your Steps (Sabour et al. 2024, eq. 10): sigmas evenly
    spaced in atan(sigma). One step gives [sigma_max, 0] (ComfyUI divides by zero there)."""
    _check_steps(steps)
    frac = torch.arange(steps, dtype=torch.float32).div_(max(steps - 1, 1))
    sigmas = frac.new_zeros(steps + 1)
    sigmas[:-1] = (frac * math.atan(sigma_min) + (1 - frac) * math.atan(sigma_max)).tan_()
    return sigmas


def _karras_from_model(model_sampling: ModelSampling, steps: int) -> Tensor:
    return sigmas_karras(steps, float(model_sampling.sigma_min), float(model_sampling.sigma_max))


def _exponential_from_model(model_sampling: ModelSampling, steps: int) -> Tensor:
    return sigmas_exponential(
        steps, float(model_sampling.sigma_min), float(model_sampling.sigma_max)
    )


def _kl_optimal_from_model(model_sampling: ModelSampling, steps: int) -> Tensor:
    low, high = float(model_sampling.sigma_min), float(model_sampling.sigma_max)
    return sigmas_kl_optimal(steps, low, high)


ScheduleFn = Callable[[ModelSampling, int], Tensor]
"""A scheduler: ``f(model_sampling, steps) -> sigmas`` (steps + 1 values, ending at 0)."""

SCHEDULERS: MappingProxyType[str, ScheduleFn] = (
    MappingProxyType(
        {
            "simple": sigmas_simple,
            "sgm_uniform": sigmas_sgm_uniform,
            "karras": _karras_from_model,
            "exponential": _exponential_from_model,
            "ddim_uniform": sigmas_ddim_uniform,
            "beta": sigmas_beta,
            "normal": sigmas_normal,
            "linear_quadratic": sigmas_linear_quadratic,
            "kl_optimal": _kl_optimal_from_model,
        }
    )
)
"""The built-in schedulers by name, in ComfyUI's list order."""

SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)


def calculate_sigmas(
    model_sampling: ModelSampling, scheduler_name: str, steps: int
) -> Tensor:
    """The named schedule for this model (ComfyUI's ``calculate_sigmas``)."""
    schedule = SCHEDULERS.get(scheduler_name)
    if schedule is None:
        raise ValueError(
            f"unknown scheduler {scheduler_name!r}; choose one of {sorted(SCHEDULERS)}"
        )
    return schedule(model_sampling, steps)
