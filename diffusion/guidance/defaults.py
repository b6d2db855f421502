"""Default entries (ComfyUI's ``finalize_default_conds``, from ConditioningSetDefaultCombine).

A side's default entries are not evaluated like the others: each step, after the side's active
entries are known, the weight they leave is ``relu(1 - sum of their weights)`` per element
(an entry's weight is its ``mult``: strength x mask x mask_strength, or the feathered area).
Where that is all zero the defaults are skipped this step; otherwise every active default entry
of the side is evaluated with that remaining weight as its weight (its own strength and mask
are not used; an area default gets the remaining weight inside its area). So a default fills in
the parts of the image, and the steps, that no hooked or masked entry covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from diffusion.guidance.resolve import AreaTuple


def _region(weight: Tensor, area: AreaTuple | None) -> Tensor:
    if area is None:
        return weight
    h, w, y, x = area
    return weight[:, :, y : y + h, x : x + w]  # view (B, C, h, w)


def remaining_weights(
    x: Tensor, wanted: Sequence[bool], used: Iterable[tuple[int, AreaTuple | None, Tensor]]
) -> list[Tensor | None]:
    """Per side: the weight its active entries leave (B, C, H, W), or None when the side has
    no default entries (``wanted``) or nothing is left. ``used``: (side, area, mult) of every
    active non-default entry."""
    weights = [torch.ones_like(x) if want else None for want in wanted]
    for side, area, mult in used:
        weight = weights[side]
        if weight is not None:
            _region(weight, area).sub_(mult)
    out: list[Tensor | None] = []
    for weight in weights:
        if weight is not None:
            torch.relu_(weight)
            if float(weight.max()) == 0.0:
                weight = None
        out.append(weight)
    return out


def default_weight(remaining: Tensor, area: AreaTuple | None) -> Tensor:
    """A default entry's weight: the remaining weight, inside its area if it has one."""
    return _region(remaining, area)


__all__ = ["default_weight", "remaining_weights"]
