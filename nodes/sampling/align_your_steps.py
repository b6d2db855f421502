"""AlignYourStepsScheduler (ComfyUI's ``nodes_align_your_steps``): NVIDIA's published 10-step
noise levels of Align Your Steps (Sabour, Fidler & Kreis 2024, arXiv:2404.14507), log-linearly
interpolated (as the authors' how-to page does) for other step counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nodes.api import SIGMAS, Combo, Float, Int, Node, Output, RunContext
from nodes.sampling.schedulers import SCHEDULERS_CATEGORY

NOISE_LEVELS: dict[str, tuple[float, ...]] = {
    "SD1": (14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177,
            1.3943805092, 0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582),
    "SDXL": (14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945,
             0.8620721141, 0.5550693289, 0.3798540708, 0.2332364134, 0.1114188177,
             0.0291671582),
    "SVD": (700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002),
}


def loglinear_interp(levels: tuple[float, ...] | list[float], count: int) -> list[float]:
    """``count`` decreasing values, log-linear between the given decreasing ``levels``."""
    xs = np.linspace(0, 1, len(levels))
    ys = np.log(np.asarray(levels)[::-1])
    interpolated = np.exp(np.interp(np.linspace(0, 1, count), xs, ys))[::-1]
    return [float(v) for v in interpolated]


def ays_sigmas(model_type: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """The schedule; with denoise < 1 the last ``round(steps * denoise)`` steps of it."""
    if model_type not in NOISE_LEVELS:
        raise ValueError(f"model_type must be one of {list(NOISE_LEVELS)}, got {model_type!r}")
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return torch.zeros(0)
        total = round(steps * denoise)
    levels = list(NOISE_LEVELS[model_type])
    if steps + 1 != len(levels):
        levels = loglinear_interp(levels, steps + 1)
    picked = levels[-(total + 1):]
    picked[-1] = 0.0
    return torch.tensor(picked, dtype=torch.float32)


class AlignYourStepsScheduler(Node):
    """Align Your Steps noise levels for SD1, SDXL or SVD."""

    display_name = "AlignYourStepsScheduler"
    category = SCHEDULERS_CATEGORY
    inputs = (
        Combo("model_type", choices=tuple(NOISE_LEVELS), tooltip="Whose optimised levels."),
        Int("steps", default=10, min=1, max=10000, tooltip="Number of sampling steps."),
        Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
              tooltip="Fraction of the schedule to sample."),
    )
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, model_type: str, steps: int,
            denoise: float) -> tuple[Any, ...]:
        return (ays_sigmas(model_type, steps, denoise),)
