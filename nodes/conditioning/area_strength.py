"""ConditioningSetAreaStrength: the weight of every entry, without changing its area."""

from __future__ import annotations

from typing import Any

from diffusion.guidance.cond import Conditioning, replace_all
from nodes.api import CONDITIONING, Float, Link, Node, Output, RunContext


class ConditioningSetAreaStrength(Node):
    """Sets the strength (weight) of every conditioning entry; its area, if any, is kept."""

    category = "conditioning"
    inputs = (
        Link("conditioning", CONDITIONING, tooltip="The conditioning to change."),
        Float("strength", default=1.0, min=0.0, max=10.0, step=0.01,
              tooltip="Weight of each entry where it applies."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: Conditioning,
            strength: float) -> tuple[Any, ...]:
        return (replace_all(conditioning, strength=strength),)
