"""Hook scheduling nodes: keyframes (one, interpolated, from a list of floats) and
SetHookKeyframes (ComfyUI's ``comfy_extras.nodes_hooks``).

Interpolated keyframes follow ComfyUI's ``InterpolationMethod.get_weights`` in float32: start
percents are ``linspace(start_percent, end_percent, n)``; strengths go from strength_start to
strength_end linearly, or with ``t = linspace(0, 1, n)`` as ``d * t^2`` (ease_in),
``d * (1 - (1 - t)^2)`` (ease_out) or ``d * (1 - cos(pi t)) / 2`` (ease_in_out), ``d`` the
difference. Only the first of a series guarantees a step; CreateHookKeyframe's keyframe
guarantees one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.hooked import HookGroup, HookKeyframe, HookKeyframes
from nodes.api import (
    HOOK_KEYFRAMES,
    HOOKS,
    Boolean,
    Combo,
    Float,
    Floats,
    Int,
    Link,
    Node,
    Output,
    RunContext,
)

logger = logging.getLogger(__name__)

SCHEDULING_CATEGORY = "advanced/hooks/scheduling"
INTERPOLATIONS = ("linear", "ease_in", "ease_out", "ease_in_out")


def interpolate(start: float, end: float, count: int, method: str) -> list[float]:
    """``count`` values from ``start`` to ``end`` (float32, as ComfyUI computes them)."""
    if method == "linear":
        return torch.linspace(start, end, count).tolist()
    t = torch.linspace(0.0, 1.0, count)  # (count,) float32
    shapes = {
        "ease_in": lambda: t * t,
        "ease_out": lambda: 1 - (1 - t) * (1 - t),
        "ease_in_out": lambda: (1 - torch.cos(t * math.pi)) / 2,
    }
    if method not in shapes:
        raise ValueError(f"unknown interpolation {method!r}; choose one of {list(INTERPOLATIONS)}")
    curve: Tensor = shapes[method]()
    return ((end - start) * curve + start).tolist()


def series(previous: HookKeyframes | None, strengths: Iterable[float], start: float,
           end: float) -> tuple[HookKeyframes, list[HookKeyframe]]:
    """``previous`` plus one keyframe per strength at evenly spaced percents (the first
    guarantees one step, the others none)."""
    values = list(strengths)
    percents = torch.linspace(start, end, len(values)).tolist()
    added = [HookKeyframe(s, p, 1 if i == 0 else 0)
             for i, (p, s) in enumerate(zip(percents, values, strict=True))]
    return (previous or HookKeyframes()).plus(*added), added


def _report(ctx: RunContext, added: list[HookKeyframe]) -> None:
    for keyframe in added:
        logger.info("hook keyframe: start_percent %s = %s", keyframe.start_percent,
                    keyframe.strength)
    ctx.note("keyframes", [[k.start_percent, k.strength] for k in added])


def _percent(name: str, default: float) -> Float:
    return Float(name, default=default, min=0.0, max=1.0, step=0.001,
                 tooltip="A fraction of the sampling schedule.")


def _prev() -> Link:
    return Link("prev_hook_kf", HOOK_KEYFRAMES, optional=True,
                tooltip="Keyframes the new ones are added to.")


class CreateHookKeyframe(Node):
    """A keyframe: from start_percent on, hooks are scaled by strength_mult."""

    display_name = "Create Hook Keyframe"
    category = SCHEDULING_CATEGORY
    experimental = True
    inputs = (
        Float("strength_mult", default=1.0, min=-20.0, max=20.0, step=0.01,
              tooltip="The factor on the hooks' strengths from this keyframe on."),
        _percent("start_percent", 0.0),
        _prev(),
    )
    outputs = (Output(HOOK_KEYFRAMES, name="HOOK_KF"),)

    def run(self, ctx: RunContext, strength_mult: float, start_percent: float,
            prev_hook_kf: HookKeyframes | None = None) -> tuple[Any, ...]:
        keyframe = HookKeyframe(strength_mult, start_percent, 1)
        return ((prev_hook_kf or HookKeyframes()).plus(keyframe),)


class CreateHookKeyframesInterpolated(Node):
    """keyframes_count keyframes from start_percent to end_percent whose strengths go from
    strength_start to strength_end along the chosen curve."""

    display_name = "Create Hook Keyframes Interp."
    category = SCHEDULING_CATEGORY
    experimental = True
    inputs = (
        Float("strength_start", default=1.0, min=0.0, max=10.0, step=0.001,
              tooltip="The first keyframe's strength."),
        Float("strength_end", default=1.0, min=0.0, max=10.0, step=0.001,
              tooltip="The last keyframe's strength."),
        Combo("interpolation", choices=INTERPOLATIONS, tooltip="The curve between them."),
        _percent("start_percent", 0.0),
        _percent("end_percent", 1.0),
        Int("keyframes_count", default=5, min=2, max=100, step=1,
            tooltip="How many keyframes."),
        Boolean("print_keyframes", default=False,
                tooltip="Log the keyframes (and list them in the node's record)."),
        _prev(),
    )
    outputs = (Output(HOOK_KEYFRAMES, name="HOOK_KF"),)

    def run(self, ctx: RunContext, strength_start: float, strength_end: float,
            interpolation: str, start_percent: float, end_percent: float, keyframes_count: int,
            print_keyframes: bool = False,
            prev_hook_kf: HookKeyframes | None = None) -> tuple[Any, ...]:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{self.type_name} input 'interpolation': {interpolation!r} is "
                             f"not one of {list(INTERPOLATIONS)}")
        strengths = interpolate(strength_start, strength_end, keyframes_count, interpolation)
        keyframes, added = series(prev_hook_kf, strengths, start_percent, end_percent)
        if print_keyframes:
            _report(ctx, added)
        return (keyframes,)


def _floats(value: Any, node: str) -> list[float]:
    """ComfyUI accepts one number or any iterable of numbers (a list, a 1-d tensor …)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, Tensor):
        return [float(v) for v in value.reshape(-1)]
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return [float(v) for v in value]
    raise TypeError(f"{node} input 'floats_strength' must be a number or a list of numbers, "
                    f"got {type(value).__name__}")


class CreateHookKeyframesFromFloats(Node):
    """One keyframe per value of floats_strength, evenly spaced from start_percent to
    end_percent."""

    display_name = "Create Hook Keyframes From Floats"
    category = SCHEDULING_CATEGORY
    experimental = True
    inputs = (
        Floats("floats_strength", default=-1.0, min=-1.0, step=0.001, force_input=True,
               tooltip="The keyframes' strengths, in order."),
        _percent("start_percent", 0.0),
        _percent("end_percent", 1.0),
        Boolean("print_keyframes", default=False,
                tooltip="Log the keyframes (and list them in the node's record)."),
        _prev(),
    )
    outputs = (Output(HOOK_KEYFRAMES, name="HOOK_KF"),)

    def run(self, ctx: RunContext, floats_strength: Any, start_percent: float,
            end_percent: float, print_keyframes: bool = False,
            prev_hook_kf: HookKeyframes | None = None) -> tuple[Any, ...]:
        strengths = _floats(floats_strength, self.type_name)
        keyframes, added = series(prev_hook_kf, strengths, start_percent, end_percent)
        if print_keyframes:
            _report(ctx, added)
        return (keyframes,)


class SetHookKeyframes(Node):
    """Schedules every hook of the group with the given keyframes (unchanged without them)."""

    display_name = "Set Hook Keyframes"
    category = SCHEDULING_CATEGORY
    experimental = True
    inputs = (
        Link("hooks", HOOKS, tooltip="The hooks to schedule."),
        Link("hook_kf", HOOK_KEYFRAMES, optional=True, tooltip="Their keyframes."),
    )
    outputs = (Output(HOOKS),)

    def run(self, ctx: RunContext, hooks: HookGroup | None,
            hook_kf: HookKeyframes | None = None) -> tuple[Any, ...]:
        if hooks is None or hook_kf is None:  # None: an empty CombineHooks upstream
            return (hooks,)
        return (hooks.with_keyframes(hook_kf),)


KEYFRAME_NODES = [SetHookKeyframes, CreateHookKeyframe, CreateHookKeyframesInterpolated,
                  CreateHookKeyframesFromFloats]
