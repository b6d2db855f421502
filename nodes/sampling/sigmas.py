"""SIGMAS editing nodes (ComfyUI's ``nodes_custom_sampler``): split a schedule by step or by
denoise, flip it, replace its first sigma, insert intermediate sigmas, and a model's sigma at a
percentage of its schedule. Inputs are never modified (outputs are new tensors or views)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from nodes.api import FLOAT, SIGMAS, Boolean, Combo, Float, Int, Link, Node, Output, RunContext
from nodes.payloads import DiffusionModel
from nodes.sampling.ksampler import model_input

SIGMAS_CATEGORY = "sampling/custom_sampling/sigmas"
FLIPPED_ZERO = 0.0001  # ComfyUI's stand-in for a leading 0 after a flip
_SPACINGS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": lambda x: x,
    "cosine": lambda x: torch.sin(x * math.pi / 2),
    "sine": lambda x: 1 - torch.cos(x * math.pi / 2),
}


def _sigmas() -> Link:
    return Link("sigmas", SIGMAS, tooltip="The noise levels to edit.")


def _split_outputs() -> tuple[Output, Output]:
    return (Output(SIGMAS, name="high_sigmas", tooltip="The first part (high noise)."),
            Output(SIGMAS, name="low_sigmas", tooltip="The rest (low noise)."))


class SplitSigmas(Node):
    """Splits a schedule at ``step``: both parts share that sigma."""

    display_name = "SplitSigmas"
    category = SIGMAS_CATEGORY
    inputs = (_sigmas(), Int("step", default=0, min=0, max=10000,
                             tooltip="The step where the second part starts."))
    outputs = _split_outputs()

    def run(self, ctx: RunContext, sigmas: Tensor, step: int) -> tuple[Any, ...]:
        return (sigmas[:step + 1], sigmas[step:])


class SplitSigmasDenoise(Node):
    """Splits off the last ``round(steps * denoise)`` steps as the low part (as ComfyUI, a
    denoise that rounds to 0 steps leaves the high part empty)."""

    display_name = "SplitSigmasDenoise"
    category = SIGMAS_CATEGORY
    inputs = (_sigmas(), Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the steps in the low part."))
    outputs = _split_outputs()

    def run(self, ctx: RunContext, sigmas: Tensor, denoise: float) -> tuple[Any, ...]:
        total = round(max(sigmas.shape[-1] - 1, 0) * denoise)
        return (sigmas[:-total], sigmas[-(total + 1):])


class FlipSigmas(Node):
    """Reverses a schedule (for inversion); a leading 0 becomes 0.0001."""

    display_name = "FlipSigmas"
    category = SIGMAS_CATEGORY
    inputs = (_sigmas(),)
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, sigmas: Tensor) -> tuple[Any, ...]:
        if len(sigmas) == 0:
            return (sigmas,)
        flipped = sigmas.flip(0)  # a copy
        if flipped[0] == 0:
            flipped[0] = FLIPPED_ZERO
        return (flipped,)


class SetFirstSigma(Node):
    """Replaces the first sigma of a schedule."""

    display_name = "SetFirstSigma"
    category = SIGMAS_CATEGORY
    inputs = (_sigmas(), Float("sigma", default=136.0, min=0.0, max=20000.0, step=0.001,
                               tooltip="The new first sigma."))
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, sigmas: Tensor, sigma: float) -> tuple[Any, ...]:
        out = sigmas.clone()
        out[0] = sigma
        return (out,)


class ExtendIntermediateSigmas(Node):
    """Inserts ``steps - 1`` sigmas into every interval whose upper sigma lies in
    [end_at_sigma, start_at_sigma] (start -1: no upper bound), spaced linearly, or eased by a
    sine (``cosine``) or 1 - cosine (``sine``) curve."""

    display_name = "ExtendIntermediateSigmas"
    category = SIGMAS_CATEGORY
    inputs = (
        _sigmas(),
        Int("steps", default=2, min=1, max=100, tooltip="Sub-steps per extended interval."),
        Float("start_at_sigma", default=-1.0, min=-1.0, max=20000.0, step=0.01,
              tooltip="Extend intervals starting at or below this sigma (-1: all)."),
        Float("end_at_sigma", default=12.0, min=0.0, max=20000.0, step=0.01,
              tooltip="Extend intervals starting at or above this sigma."),
        Combo("spacing", choices=tuple(_SPACINGS), tooltip="How the new sigmas are spaced."),
    )
    outputs = (Output(SIGMAS),)

    def run(self, ctx: RunContext, sigmas: Tensor, steps: int, start_at_sigma: float,
            end_at_sigma: float, spacing: str) -> tuple[Any, ...]:
        if spacing not in _SPACINGS:
            raise ValueError(f"ExtendIntermediateSigmas: input 'spacing' must be one of "
                             f"{list(_SPACINGS)}, got {spacing!r}")
        upper = float("inf") if start_at_sigma < 0 else start_at_sigma
        fractions = _SPACINGS[spacing](torch.linspace(0, 1, steps + 1)[1:-1])  # (steps - 1,)
        out: list[float] = []
        for i in range(len(sigmas) - 1):
            current, following = sigmas[i], sigmas[i + 1]
            out.append(float(current))
            if end_at_sigma <= current <= upper:
                out.extend((fractions * (following - current) + current).tolist())
        if len(sigmas) > 0:
            out.append(float(sigmas[-1]))
        return (torch.tensor(out, dtype=torch.float32),)


class SamplingPercentToSigma(Node):
    """The model's sigma after ``sampling_percent`` of its schedule (0 % and 100 % give the
    interval-check values 999999999.9 and 0 unless ``return_actual_sigma``)."""

    display_name = "SamplingPercentToSigma"
    category = SIGMAS_CATEGORY
    inputs = (
        model_input(),
        Float("sampling_percent", default=0.0, min=0.0, max=1.0, step=0.0001,
              tooltip="How far through the schedule."),
        Boolean("return_actual_sigma", default=False,
                tooltip="At 0.0 and 1.0, return sigma_max / sigma_min instead."),
    )
    outputs = (Output(FLOAT, name="sigma_value"),)

    def run(self, ctx: RunContext, model: DiffusionModel, sampling_percent: float,
            return_actual_sigma: bool) -> tuple[Any, ...]:
        ms = model.model_sampling
        sigma = ms.percent_to_sigma(sampling_percent)
        if return_actual_sigma and sampling_percent == 0.0:
            sigma = float(ms.sigma_max)
        elif return_actual_sigma and sampling_percent == 1.0:
            sigma = float(ms.sigma_min)
        return (sigma,)


SIGMA_NODES: list[type[Node]] = [
    SplitSigmas, SplitSigmasDenoise, FlipSigmas, SetFirstSigma, ExtendIntermediateSigmas,
    SamplingPercentToSigma,
]
