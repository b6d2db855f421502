"""More SIGMAS nodes of ComfyUI's ``nodes_custom_sampler``: exponential, polyexponential, VP,
Laplace and beta schedules."""

from __future__ import annotations

import math
from typing import Any

import torch

from diffusion.sampling.schedules import sigmas_beta, sigmas_exponential
from nodes.api import SIGMAS, Float, Int, Node, Output, RunContext
from nodes.payloads import DiffusionModel
from nodes.sampling.ksampler import MAX_STEPS, model_input
from nodes.sampling.schedulers import SCHEDULERS_CATEGORY, _steps


def _sigma(name: str, default: float, tip: str) -> Float:
    return Float(name, default=default, min=0.0, max=5000.0, step=0.01, tooltip=tip)


def _range_inputs() -> tuple[Int, Float, Float]:
    return (_steps(), _sigma("sigma_max", 14.614642, "The highest noise level."),
            _sigma("sigma_min", 0.0291675, "The lowest noise level before the final 0."))


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


class ExponentialScheduler(Node):
    """Sigmas evenly spaced in log sigma from sigma_max to sigma_min, then 0."""

    display_name = "ExponentialScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = _range_inputs()
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, steps: int, sigma_max: float,
            sigma_min: float) -> tuple[Any, ...]:
        return (sigmas_exponential(steps, sigma_min, sigma_max),)


class PolyexponentialScheduler(Node):
    """log sigma following ``ramp^rho`` from log sigma_max to log sigma_min (rho 1:
    exponential), then 0 (k-diffusion's polyexponential schedule)."""

    display_name = "PolyexponentialScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = (*_range_inputs(), Float("rho", default=1.0, min=0.0, max=100.0, step=0.01,
                                      tooltip="Curvature in log sigma."))
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, steps: int, sigma_max: float, sigma_min: float,
            rho: float) -> tuple[Any, ...]:
        ramp = torch.linspace(1, 0, steps) ** rho
        log_min, log_max = math.log(sigma_min), math.log(sigma_max)
        return (_append_zero(torch.exp(ramp * (log_max - log_min) + log_min)),)


class VPScheduler(Node):
    """The continuous VP schedule (Song et al. 2021): sigma(t) = sqrt(exp(beta_d t^2 / 2 +
    beta_min t) - 1) at t evenly spaced from 1 to eps_s, then 0."""

    display_name = "VPScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = (
        _steps(),
        _sigma("beta_d", 19.9, "The VP SDE's beta_d (beta_max - beta_min)."),
        _sigma("beta_min", 0.1, "The VP SDE's beta_min."),
        Float("eps_s", default=0.001, min=0.0, max=1.0, step=0.0001,
              tooltip="The smallest time."),
    )
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, steps: int, beta_d: float, beta_min: float,
            eps_s: float) -> tuple[Any, ...]:
        t = torch.linspace(1, eps_s, steps)
        return (_append_zero(torch.sqrt(torch.special.expm1(beta_d * t**2 / 2 + beta_min * t))),)


class LaplaceScheduler(Node):
    """Log sigmas at the quantiles of a Laplace(mu, beta) distribution (Tiankai et al. 2024),
    clamped to [sigma_min, sigma_max]; as ComfyUI, no final 0 is appended."""

    display_name = "LaplaceScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = (
        *_range_inputs(),
        Float("mu", default=0.0, min=-10.0, max=10.0, step=0.1, tooltip="Laplace location."),
        Float("beta", default=0.5, min=0.0, max=10.0, step=0.1, tooltip="Laplace scale."),
    )
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, steps: int, sigma_max: float, sigma_min: float, mu: float,
            beta: float) -> tuple[Any, ...]:
        epsilon = 1e-5  # avoids log(0)
        x = torch.linspace(0, 1, steps)
        lmb = mu - beta * torch.sign(0.5 - x) * torch.log(1 - 2 * torch.abs(0.5 - x) + epsilon)
        return (torch.clamp(torch.exp(lmb), min=sigma_min, max=sigma_max),)


class BetaSamplingScheduler(Node):
    """The model's sigmas at quantiles of Beta(alpha, beta) over its timesteps."""

    display_name = "BetaSamplingScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = (
        model_input(),
        _steps(high=MAX_STEPS),
        Float("alpha", default=0.6, min=0.0, max=50.0, step=0.01, tooltip="Beta's alpha."),
        Float("beta", default=0.6, min=0.0, max=50.0, step=0.01, tooltip="Beta's beta."),
    )
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, model: DiffusionModel, steps: int, alpha: float,
            beta: float) -> tuple[Any, ...]:
        return (sigmas_beta(model.model_sampling, steps, alpha, beta),)


MORE_SCHEDULER_NODES: list[type[Node]] = [
    ExponentialScheduler, PolyexponentialScheduler, LaplaceScheduler, VPScheduler,
    BetaSamplingScheduler,
]
