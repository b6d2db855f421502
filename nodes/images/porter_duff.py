"""Porter–Duff compositing with ComfyUI's formulas (``comfy_extras/nodes_compositing.py``).

Inputs are straight (not premultiplied) colours and MASK-style alphas (1 = transparent, as
ComfyUI masks are). Each mode works on premultiplied values; the result is un-premultiplied
(0 where the output alpha is ≤ 1e-5), clamped to [0, 1], and its alpha turned back into a mask.
Pure functions; no argument is modified.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Formula = Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


def _union(sa: Tensor, da: Tensor) -> Tensor:
    return sa + da - sa * da


def _overlay(s: Tensor, sa: Tensor, d: Tensor, da: Tensor) -> tuple[Tensor, Tensor]:
    image = torch.where(2 * d < da, 2 * s * d, sa * da - 2 * (da - s) * (sa - d))
    return image, _union(sa, da)


# mode -> (source colour s, source alpha sa, destination colour d, destination alpha da),
# colours premultiplied -> (colour, alpha), both premultiplied.
FORMULAS: dict[str, Formula] = {
    "ADD": lambda s, sa, d, da: (torch.clamp(s + d, 0, 1), torch.clamp(sa + da, 0, 1)),
    "CLEAR": lambda s, sa, d, da: (torch.zeros_like(d), torch.zeros_like(da)),
    "DARKEN": lambda s, sa, d, da: ((1 - da) * s + (1 - sa) * d + torch.min(s, d),
                                    _union(sa, da)),
    "DST": lambda s, sa, d, da: (d, da),
    "DST_ATOP": lambda s, sa, d, da: (sa * d + (1 - da) * s, sa),
    "DST_IN": lambda s, sa, d, da: (d * sa, sa * da),
    "DST_OUT": lambda s, sa, d, da: ((1 - sa) * d, (1 - sa) * da),
    "DST_OVER": lambda s, sa, d, da: (d + (1 - da) * s, da + (1 - da) * sa),
    "LIGHTEN": lambda s, sa, d, da: ((1 - da) * s + (1 - sa) * d + torch.max(s, d),
                                     _union(sa, da)),
    "MULTIPLY": lambda s, sa, d, da: (s * d, sa * da),
    "OVERLAY": _overlay,
    "SCREEN": lambda s, sa, d, da: (s + d - s * d, _union(sa, da)),
    "SRC": lambda s, sa, d, da: (s, sa),
    "SRC_ATOP": lambda s, sa, d, da: (da * s + (1 - sa) * d, da),
    "SRC_IN": lambda s, sa, d, da: (s * da, sa * da),
    "SRC_OUT": lambda s, sa, d, da: ((1 - da) * s, (1 - da) * sa),
    "SRC_OVER": lambda s, sa, d, da: (s + (1 - sa) * d, sa + (1 - sa) * da),
    "XOR": lambda s, sa, d, da: ((1 - da) * s + (1 - sa) * d,
                                 (1 - da) * sa + (1 - sa) * da),
}
MODES: tuple[str, ...] = tuple(FORMULAS)


def porter_duff(source: Tensor, source_mask: Tensor, destination: Tensor,
                destination_mask: Tensor, mode: str) -> tuple[Tensor, Tensor]:
    """(…, C) colours and (…, 1) masks → (colour (…, C), mask (…, 1))."""
    if mode not in FORMULAS:
        raise ValueError(f"PorterDuffImageComposite input 'mode': {mode!r} is unknown; choose "
                         f"one of {MODES}")
    sa, da = 1 - source_mask, 1 - destination_mask
    image, alpha = FORMULAS[mode](source * sa, sa, destination * da, da)
    straight = torch.where(alpha > 1e-5, image / alpha, torch.zeros_like(image))
    return torch.clamp(straight, 0, 1), 1 - alpha
