"""SIGMAS nodes: BasicScheduler, KarrasScheduler, SDTurboScheduler (ComfyUI's
``comfy_extras/nodes_custom_sampler.py``). A SIGMAS value is a descending 1-d float32 Tensor
on the CPU, ending in 0 (an empty one means: nothing to sample)."""

from __future__ import annotations

from typing import Any

import torch

from diffusion.sampling.schedules import sigmas_karras
from nodes.api import SIGMAS, Combo, Float, Int, Node, Output, RunContext, SchedulerNames
from nodes.payloads import DiffusionModel
from nodes.sampling.ksampler import MAX_STEPS, model_input

SCHEDULERS_CATEGORY = "sampling/custom_sampling/schedulers"
_DENOISE_TIP = "Fraction of the schedule to sample; below 1 starts part-way (img2img)."
TURBO_TIMESTEPS = 10  # SDTurboScheduler picks from timesteps 999, 899, …, 99


def _steps(default: int = 20, high: int = MAX_STEPS) -> Int:
    return Int("steps", default=default, min=1, max=high, tooltip="Number of sampling steps.")


class BasicScheduler(Node):
    """The model's noise schedule by name; with denoise < 1, the last ``steps`` steps of a
    ``steps / denoise`` schedule."""

    display_name = "BasicScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = (
        model_input(),
        Combo("scheduler", choices=SchedulerNames(), tooltip="How the noise levels are spaced."),
        _steps(),
        Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01, tooltip=_DENOISE_TIP),
    )
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, model: DiffusionModel, scheduler: str, steps: int,
            denoise: float) -> tuple[Any, ...]:
        total = steps
        if denoise < 1.0:
            if denoise <= 0.0:
                return (torch.zeros(0),)
            total = int(steps / denoise)
        schedule = ctx.sampling.scheduler(scheduler)
        sigmas = schedule(model.model_sampling, total).cpu()
        return (sigmas[-(steps + 1):],)  # (steps + 1,)


class KarrasScheduler(Node):
    """Karras et al. (2022) noise levels between sigma_max and sigma_min (no model needed)."""

    display_name = "KarrasScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = (
        _steps(),
        Float("sigma_max", default=14.614642, min=0.0, max=5000.0, step=0.01, advanced=True,
              tooltip="The highest noise level."),
        Float("sigma_min", default=0.0291675, min=0.0, max=5000.0, step=0.01, advanced=True,
              tooltip="The lowest noise level before the final 0."),
        Float("rho", default=7.0, min=0.0, max=100.0, step=0.01, advanced=True,
              tooltip="Spacing exponent: higher values put more steps at low noise."),
    )
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, steps: int, sigma_max: float, sigma_min: float,
            rho: float) -> tuple[Any, ...]:
        if rho == 0.0:
            raise ValueError(f"KarrasScheduler: input 'rho' must be > 0, got {rho}")
        return (sigmas_karras(steps, sigma_min, sigma_max, rho),)  # (steps + 1,)


class SDTurboScheduler(Node):
    """SD/SDXL Turbo's schedule: ``steps`` of the timesteps 999, 899, …, 99, starting
    ``10 - int(10 * denoise)`` entries in, then 0."""

    display_name = "SDTurboScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = (
        model_input(),
        _steps(default=1, high=TURBO_TIMESTEPS),
        Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01, tooltip=_DENOISE_TIP),
    )
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, model: DiffusionModel, steps: int,
            denoise: float) -> tuple[Any, ...]:
        start = TURBO_TIMESTEPS - int(TURBO_TIMESTEPS * denoise)
        timesteps = torch.flip(torch.arange(1, TURBO_TIMESTEPS + 1) * 100 - 1, (0,))
        sigmas = model.model_sampling.sigma(timesteps[start:start + steps])
        return (torch.cat([sigmas, sigmas.new_zeros([1])]),)  # (steps + 1,) at most


SCHEDULER_NODES: list[type[Node]] = [BasicScheduler, KarrasScheduler, SDTurboScheduler]
