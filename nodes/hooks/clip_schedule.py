"""The keyframe ranges a scheduled CLIP encodes a prompt for (ComfyUI's
``HookGroup.get_hooks_for_clip_schedule``).

Each hook's keyframes become ranges of constant strength: walking them in order, a keyframe
that starts later than the current one and differs in strength closes the current range; one
that starts at the same percent replaces the current one; the last keyframe runs to 1.0 (unless
it starts there). A hook without keyframes spans [0, 1] at strength 1. The ranges of all hooks
are cut at every boundary (and 0.0); in each piece a hook gets the strength of its first range
that overlaps the piece, or 1.0 when none does (the keyframe-less strength, as ComfyUI's
``None`` keyframe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffusion.guidance.hooked import HookGroup, HookKeyframe, HookKeyframes

Range = tuple[float, float]


@dataclass(frozen=True)
class ClipRange:
    """One encode of a scheduled CLIP: the part of the schedule, and each hook's keyframe
    strength there (the factor on its ``strength_clip``), in the group's order."""

    start_percent: float
    end_percent: float
    multipliers: tuple[float, ...]


def _hook_ranges(keyframes: HookKeyframes) -> list[tuple[Range, HookKeyframe | None]]:
    frames = keyframes.keyframes
    if not frames:
        return [((0.0, 1.0), None)]
    ranges: list[tuple[Range, HookKeyframe | None]] = []
    current = frames[0]
    for frame in frames:
        if frame.start_percent > current.start_percent and not math.isclose(
                frame.strength, current.strength):
            ranges.append(((current.start_percent, frame.start_percent), current))
            current = frame
        elif frame.start_percent == current.start_percent:
            current = frame
    if not math.isclose(current.start_percent, 1.0):
        ranges.append(((current.start_percent, 1.0), current))
    return ranges


def _strength_in(ranges: list[tuple[Range, HookKeyframe | None]], piece: Range) -> float:
    for (start, end), frame in ranges:
        if start < piece[1] and end > piece[0]:
            return 1.0 if frame is None else frame.strength
    return 1.0


def clip_schedule(group: HookGroup) -> list[ClipRange]:
    """The ranges to encode for, in schedule order (empty for an empty group)."""
    per_hook = [_hook_ranges(hook.keyframes) for hook in group.hooks]
    bounds = sorted({0.0, *(p for ranges in per_hook for (r, _) in ranges for p in r)})
    return [
        ClipRange(start, end, tuple(_strength_in(ranges, (start, end)) for ranges in per_hook))
        for start, end in zip(bounds, bounds[1:], strict=False)
    ]


__all__ = ["ClipRange", "clip_schedule"]
