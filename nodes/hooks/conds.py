"""Conditioning nodes of the hook family (ComfyUI's ``comfy_extras.nodes_hooks``): set hooks,
a mask and a timesteps range on entries, combine, mark default entries, and the pair versions
that do the same to a positive and a negative at once.

ComfyUI's semantics (``comfy.hooks.set_conds_props`` and friends), applied to every entry:

- hooks: appended to the entry's own hooks (each hook once), or set when it has none;
- mask: sets the mask (a 2-d mask gets a batch dimension), ``mask_strength = strength`` and
  ``set_area_to_bounds = set_cond_area != "default"``. Without a mask, strength and
  set_cond_area change nothing (as in ComfyUI);
- timesteps: sets start_percent / end_percent.

``…AndCombine`` returns the existing entries followed by the new ones; ``…DefaultCombine``
marks the new entries as defaults (``Cond.default``: used only where, and when, the side's
other entries leave weight; ``diffusion.guidance.defaults``) after appending the hooks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import Tensor

from diffusion.guidance.cond import Cond, Conditioning
from diffusion.guidance.hooked import HookGroup, TimestepsRange
from nodes.api import (
    CONDITIONING,
    HOOKS,
    MASK,
    TIMESTEPS_RANGE,
    Combo,
    Float,
    Link,
    Node,
    Output,
    RunContext,
)

MASK_AREAS = ("default", "mask bounds")
SINGLE = "advanced/hooks/cond single"
PAIR = "advanced/hooks/cond pair"


@dataclasses.dataclass(frozen=True)
class Props:
    """What a set-properties node applies (None: leave as is)."""

    strength: float = 1.0
    set_cond_area: str = "default"
    mask: Tensor | None = None
    hooks: HookGroup | None = None
    timesteps: TimestepsRange | None = None
    default: bool = False

    def check(self, node: str) -> None:
        if self.set_cond_area not in MASK_AREAS:
            raise ValueError(f"{node} input 'set_cond_area': {self.set_cond_area!r} is not one "
                             f"of {list(MASK_AREAS)}")


def with_hooks(entry: Cond, hooks: HookGroup) -> HookGroup:
    return hooks if entry.hooks is None else entry.hooks.plus(hooks)


def apply_props(conditioning: Conditioning, props: Props) -> Conditioning:
    """Every entry with ``props`` applied (new entries; the inputs stay as they were)."""
    mask = props.mask
    if mask is not None and mask.ndim < 3:
        mask = mask.unsqueeze(0)  # (1, H, W)
    out = []
    for entry in conditioning:
        changes: dict[str, Any] = {}
        if props.hooks is not None:
            changes["hooks"] = with_hooks(entry, props.hooks)
        if mask is not None:
            changes.update(mask=mask, mask_strength=props.strength,
                           set_area_to_bounds=props.set_cond_area != "default")
        if props.timesteps is not None:
            changes.update(start_percent=props.timesteps.start_percent,
                           end_percent=props.timesteps.end_percent)
        if props.default:
            changes["default"] = True
        out.append(dataclasses.replace(entry, **changes) if changes else entry)
    return tuple(out)


def _cond(name: str, tooltip: str) -> Link:
    return Link(name, CONDITIONING, tooltip=tooltip)


PROPS_INPUTS = (
    Float("strength", default=1.0, min=0.0, max=10.0, step=0.01,
          tooltip="The mask's strength (used only with a mask)."),
    Combo("set_cond_area", choices=MASK_AREAS,
          tooltip="'mask bounds' computes the entries only over the mask's bounding box."),
    Link("mask", MASK, optional=True, tooltip="Where the entries apply."),
    Link("hooks", HOOKS, optional=True, tooltip="Weight hooks the entries are sampled with."),
    Link("timesteps", TIMESTEPS_RANGE, optional=True,
         tooltip="The part of the schedule where the entries are active."),
)
DEFAULT_HOOKS = Link("hooks", HOOKS, optional=True,
                     tooltip="Weight hooks the default entries are sampled with.")


class ConditioningSetProperties(Node):
    """Sets a mask, weight hooks and a timesteps range on every entry."""

    display_name = "Cond Set Props"
    category = SINGLE
    experimental = True
    inputs = (_cond("cond_NEW", "The entries to change."), *PROPS_INPUTS)
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, cond_NEW: Conditioning, strength: float,
            set_cond_area: str, mask: Tensor | None = None, hooks: HookGroup | None = None,
            timesteps: TimestepsRange | None = None) -> tuple[Any, ...]:
        props = Props(strength, set_cond_area, mask, hooks, timesteps)
        props.check(self.type_name)
        return (apply_props(cond_NEW, props),)


class ConditioningSetPropertiesAndCombine(Node):
    """Sets a mask, weight hooks and a timesteps range on cond_NEW's entries and appends them
    to cond."""

    display_name = "Cond Set Props Combine"
    category = SINGLE
    experimental = True
    inputs = (_cond("cond", "The entries kept as they are."),
              _cond("cond_NEW", "The entries to change and append."), *PROPS_INPUTS)
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, cond: Conditioning, cond_NEW: Conditioning,
            strength: float, set_cond_area: str, mask: Tensor | None = None,
            hooks: HookGroup | None = None,
            timesteps: TimestepsRange | None = None) -> tuple[Any, ...]:
        props = Props(strength, set_cond_area, mask, hooks, timesteps)
        props.check(self.type_name)
        return (tuple(cond) + apply_props(cond_NEW, props),)


class ConditioningSetDefaultCombine(Node):
    """Appends cond_DEFAULT's entries as defaults: used only where the other entries (hooked
    or masked) leave the image, or the steps, uncovered."""

    display_name = "Cond Set Default Combine"
    category = SINGLE
    experimental = True
    inputs = (_cond("cond", "The entries kept as they are."),
              _cond("cond_DEFAULT", "The default entries."), DEFAULT_HOOKS)
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, cond: Conditioning, cond_DEFAULT: Conditioning,
            hooks: HookGroup | None = None) -> tuple[Any, ...]:
        return (tuple(cond) + apply_props(cond_DEFAULT, Props(hooks=hooks, default=True)),)


class ConditioningTimestepsRange(Node):
    """A part of the schedule, and the parts before and after it."""

    display_name = "Timesteps Range"
    category = "advanced/hooks"
    experimental = True
    inputs = (
        Float("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
              tooltip="Where the range starts (a fraction of the schedule)."),
        Float("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
              tooltip="Where the range ends."),
    )
    outputs = (Output(TIMESTEPS_RANGE, name="TIMESTEPS_RANGE"),
               Output(TIMESTEPS_RANGE, name="BEFORE_RANGE"),
               Output(TIMESTEPS_RANGE, name="AFTER_RANGE"))

    def run(self, ctx: RunContext, start_percent: float, end_percent: float) -> tuple[Any, ...]:
        return (TimestepsRange(start_percent, end_percent), TimestepsRange(0.0, start_percent),
                TimestepsRange(end_percent, 1.0))


SINGLE_COND_NODES = [ConditioningSetProperties, ConditioningSetPropertiesAndCombine,
                     ConditioningSetDefaultCombine, ConditioningTimestepsRange]
