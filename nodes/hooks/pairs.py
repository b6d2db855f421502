"""The pair versions of the hook conditioning nodes: the same change to a positive and a
negative at once (ComfyUI's ``PairConditioning…`` nodes; semantics in ``nodes.hooks.conds``)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from diffusion.guidance.cond import Conditioning
from diffusion.guidance.hooked import HookGroup, TimestepsRange
from nodes.api import CONDITIONING, Link, Node, Output, RunContext
from nodes.hooks.conds import DEFAULT_HOOKS, PAIR, PROPS_INPUTS, Props, apply_props

PAIR_OUTPUTS = (Output(CONDITIONING, name="positive"), Output(CONDITIONING, name="negative"))


def _cond(name: str, tooltip: str) -> Link:
    return Link(name, CONDITIONING, tooltip=tooltip)


class PairConditioningSetProperties(Node):
    """Sets a mask, weight hooks and a timesteps range on every positive and negative entry."""

    display_name = "Cond Pair Set Props"
    category = PAIR
    experimental = True
    inputs = (_cond("positive_NEW", "The positive entries to change."),
              _cond("negative_NEW", "The negative entries to change."), *PROPS_INPUTS)
    outputs = PAIR_OUTPUTS

    def run(self, ctx: RunContext, positive_NEW: Conditioning, negative_NEW: Conditioning,
            strength: float, set_cond_area: str, mask: Tensor | None = None,
            hooks: HookGroup | None = None,
            timesteps: TimestepsRange | None = None) -> tuple[Any, ...]:
        props = Props(strength, set_cond_area, mask, hooks, timesteps)
        props.check(self.type_name)
        return (apply_props(positive_NEW, props), apply_props(negative_NEW, props))


class PairConditioningSetPropertiesAndCombine(Node):
    """Sets a mask, weight hooks and a timesteps range on the new entries and appends them to
    positive and negative."""

    display_name = "Cond Pair Set Props Combine"
    category = PAIR
    experimental = True
    inputs = (_cond("positive", "Positive entries kept as they are."),
              _cond("negative", "Negative entries kept as they are."),
              _cond("positive_NEW", "Positive entries to change and append."),
              _cond("negative_NEW", "Negative entries to change and append."), *PROPS_INPUTS)
    outputs = PAIR_OUTPUTS

    def run(self, ctx: RunContext, positive: Conditioning, negative: Conditioning,
            positive_NEW: Conditioning, negative_NEW: Conditioning, strength: float,
            set_cond_area: str, mask: Tensor | None = None, hooks: HookGroup | None = None,
            timesteps: TimestepsRange | None = None) -> tuple[Any, ...]:
        props = Props(strength, set_cond_area, mask, hooks, timesteps)
        props.check(self.type_name)
        return (tuple(positive) + apply_props(positive_NEW, props),
                tuple(negative) + apply_props(negative_NEW, props))


class PairConditioningCombine(Node):
    """Joins two positive and two negative conditionings."""

    display_name = "Cond Pair Combine"
    category = PAIR
    experimental = True
    inputs = (_cond("positive_A", "First positive."), _cond("negative_A", "First negative."),
              _cond("positive_B", "Second positive."), _cond("negative_B", "Second negative."))
    outputs = PAIR_OUTPUTS

    def run(self, ctx: RunContext, positive_A: Conditioning, negative_A: Conditioning,
            positive_B: Conditioning, negative_B: Conditioning) -> tuple[Any, ...]:
        return (tuple(positive_A) + tuple(positive_B), tuple(negative_A) + tuple(negative_B))


class PairConditioningSetDefaultCombine(Node):
    """Appends the default entries to positive and negative (used only where the other
    entries leave the image, or the steps, uncovered)."""

    display_name = "Cond Pair Set Default Combine"
    category = PAIR
    experimental = True
    inputs = (_cond("positive", "Positive entries kept as they are."),
              _cond("negative", "Negative entries kept as they are."),
              _cond("positive_DEFAULT", "Default positive entries."),
              _cond("negative_DEFAULT", "Default negative entries."), DEFAULT_HOOKS)
    outputs = PAIR_OUTPUTS

    def run(self, ctx: RunContext, positive: Conditioning, negative: Conditioning,
            positive_DEFAULT: Conditioning, negative_DEFAULT: Conditioning,
            hooks: HookGroup | None = None) -> tuple[Any, ...]:
        props = Props(hooks=hooks, default=True)
        return (tuple(positive) + apply_props(positive_DEFAULT, props),
                tuple(negative) + apply_props(negative_DEFAULT, props))


PAIR_COND_NODES = [PairConditioningSetProperties, PairConditioningSetPropertiesAndCombine,
                   PairConditioningCombine, PairConditioningSetDefaultCombine]
