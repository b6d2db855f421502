"""Weight hooks on conditioning (ComfyUI's ``comfy.hooks`` weight hooks): the HOOKS,
HOOK_KEYFRAMES and TIMESTEPS_RANGE payloads.

A ``WeightHook`` is a source of weight patches (a LoRA file, or another model's weights used as
a LoRA) with ``strength_model`` for the diffusion model and ``strength_clip`` for the text
encoders, and ``HookKeyframes`` that scale both during sampling. A ``HookGroup`` (a HOOKS value)
is an ordered set of hooks; combining groups keeps each hook once, by identity (``ref``: a hook
keeps its ref when its keyframes are replaced, so a re-keyframed copy of a hook already present
is dropped, as ComfyUI's ``HookGroup.add`` drops an equal ``hook_ref``).

How ComfyUI uses them (and this engine with it):

- Weight hooks are *hooked only*: a CONDITIONING entry carrying a group is evaluated with the
  diffusion model patched by that group's hooks (on top of the model's own patches, each hook's
  patches at ``strength_model`` x its current keyframe strength); entries without hooks, and
  entries of other groups, never see those weights (``diffusion.guidance.batching``).
- Keyframes: ``(strength, start_percent, guarantee_steps)`` sorted by start (stable). The first
  keyframe applies from the first step whatever its start; at each new sigma, once the current
  keyframe has been used for its guaranteed steps, the clock moves to the last of the following
  keyframes whose start sigma is >= the current sigma, stopping at the first one that still
  guarantees steps. A keyframe that starts before the run's largest sigma guarantees nothing
  (``hook_schedule.KeyframeClock``). No keyframes: strength 1.
- ``SetClipHooks`` applies the hooks to a CLIP at ``strength_clip`` (keyframes ignored unless
  ``schedule_clip``: then the prompt is encoded once per keyframe range, each entry limited to its
  range through ``Cond.clip_start_percent`` / ``clip_end_percent``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable


@runtime_checkable
class HookSource(Protocol):
    """Where a weight hook's patches come from; what turns it into patches for a model is the
    caller's (nodes map LoRA files and checkpoints onto their payloads)."""

    @property
    def label(self) -> str:
        """A short name for summaries and messages (the file name)."""
        ...

    @property
    def nbytes(self) -> int:
        """Bytes of tensors it holds (a loaded LoRA's), for the output cache."""
        ...


def _finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what}={value} is not finite")
    return value


@dataclass(frozen=True)
class HookKeyframe:
    """From ``start_percent`` of the schedule on, hooks are scaled by ``strength``;
    ``guarantee_steps`` steps are spent on it before a later keyframe may take over."""

    strength: float
    start_percent: float = 0.0
    guarantee_steps: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", _finite(self.strength, "keyframe strength"))
        start = float(self.start_percent)
        if not 0.0 <= start <= 1.0:
            raise ValueError(f"keyframe start_percent must be in [0, 1], got {start!r}")
        object.__setattr__(self, "start_percent", start)
        if self.guarantee_steps < 0:
            raise ValueError(f"guarantee_steps must be >= 0, got {self.guarantee_steps!r}")


@dataclass(frozen=True)
class HookKeyframes:
    """A HOOK_KEYFRAMES value: keyframes sorted by start percent (equal starts keep the order
    they were added in)."""

    keyframes: tuple[HookKeyframe, ...] = ()

    nbytes = 0

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.keyframes, key=lambda k: k.start_percent))  # stable
        object.__setattr__(self, "keyframes", ordered)

    def plus(self, *keyframes: HookKeyframe) -> HookKeyframes:
        """These keyframes and ``keyframes``, re-sorted (a new value)."""
        return HookKeyframes((*self.keyframes, *keyframes))

    def __bool__(self) -> bool:
        return bool(self.keyframes)

    def summary(self) -> str:
        shown = ", ".join(f"{k.strength:g}@{k.start_percent:g}" for k in self.keyframes)
        return f"HookKeyframes({shown})"


NO_KEYFRAMES = HookKeyframes()


def _new_ref() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class WeightHook:
    """One weight hook: ``source``'s patches at ``strength_model`` (diffusion model) and
    ``strength_clip`` (text encoders), scaled by the current keyframe's strength."""

    source: HookSource
    strength_model: float = 1.0
    strength_clip: float = 1.0
    keyframes: HookKeyframes = NO_KEYFRAMES
    ref: str = field(default_factory=_new_ref)

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength_model", _finite(self.strength_model, "strength_model"))
        object.__setattr__(self, "strength_clip", _finite(self.strength_clip, "strength_clip"))

    def with_keyframes(self, keyframes: HookKeyframes) -> WeightHook:
        """The same hook (same ``ref``) scheduled by ``keyframes``."""
        return replace(self, keyframes=keyframes)


@dataclass(frozen=True)
class HookGroup:
    """A HOOKS value: weight hooks applied together, each present once (by ``ref``)."""

    hooks: tuple[WeightHook, ...] = ()

    def __post_init__(self) -> None:
        unique: dict[str, WeightHook] = {}
        for hook in self.hooks:
            if not isinstance(hook, WeightHook):
                raise TypeError(f"a HookGroup holds WeightHooks, got {type(hook).__name__}")
            unique.setdefault(hook.ref, hook)
        object.__setattr__(self, "hooks", tuple(unique.values()))

    def plus(self, other: HookGroup | None) -> HookGroup:
        """These hooks followed by ``other``'s that are not already here (ComfyUI's
        ``clone_and_combine``)."""
        return self if other is None else HookGroup((*self.hooks, *other.hooks))

    def with_keyframes(self, keyframes: HookKeyframes) -> HookGroup:
        """Every hook scheduled by ``keyframes`` (``SetHookKeyframes``)."""
        return HookGroup(tuple(h.with_keyframes(keyframes) for h in self.hooks))

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def __len__(self) -> int:
        return len(self.hooks)

    @property
    def nbytes(self) -> int:
        sources = {id(h.source): h.source for h in self.hooks}
        return sum(int(s.nbytes) for s in sources.values())

    def summary(self) -> str:
        shown = ", ".join(f"{h.source.label} ({h.strength_model:g}/{h.strength_clip:g})"
                          for h in self.hooks)
        return f"HookGroup({shown})"


def combine_hook_groups(groups: Iterable[HookGroup | None]) -> HookGroup | None:
    """ComfyUI's ``combine_all_hooks``: None when no group is given, the group itself when one
    is, else each hook once in first-seen order."""
    given = [g for g in groups if g is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]
    combined = given[0]
    for group in given[1:]:
        combined = combined.plus(group)
    return combined


@dataclass(frozen=True)
class TimestepsRange:
    """A TIMESTEPS_RANGE value: the part of the schedule ``[start_percent, end_percent]``."""

    start_percent: float = 0.0
    end_percent: float = 1.0

    nbytes = 0

    def __post_init__(self) -> None:
        for name in ("start_percent", "end_percent"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"timesteps range {name} must be in [0, 1], got {value!r}")
            object.__setattr__(self, name, value)

    def summary(self) -> str:
        return f"TimestepsRange({self.start_percent:g}-{self.end_percent:g})"


__all__ = [
    "NO_KEYFRAMES",
    "HookGroup",
    "HookKeyframe",
    "HookKeyframes",
    "HookSource",
    "TimestepsRange",
    "WeightHook",
    "combine_hook_groups",
]
