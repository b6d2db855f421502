"""Mask arithmetic with ComfyUI's semantics: grow/shrink, feather, composite.

Masks are (B, H, W) floats; (H, W) and (B, 1, H, W) are accepted and flattened to (B, H, W).
None of these functions modifies its arguments.
"""

from __future__ import annotations

import torch

from nodes.images.resize import repeat_to_batch

MASK_OPERATIONS: tuple[str, ...] = ("multiply", "add", "subtract", "and", "or", "xor")


def as_mask_batch(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` as (B, H, W) (a view when possible)."""
    return mask.reshape((-1, mask.shape[-2], mask.shape[-1]))


def _step(masks: torch.Tensor, tapered: bool, grow: bool) -> torch.Tensor:
    """One 3×3 grey dilation (``grow``) or erosion of (B, H, W), edges repeated outward."""
    padded = torch.nn.functional.pad(masks[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    height, width = masks.shape[-2:]
    offsets = [(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)]  # the cross
    if not tapered:
        offsets += [(0, 0), (0, 2), (2, 0), (2, 2)]  # and the corners
    shifted = torch.stack([padded[:, dy:dy + height, dx:dx + width] for dy, dx in offsets])
    return shifted.amax(dim=0) if grow else shifted.amin(dim=0)  # (B, H, W)


def grow_mask(mask: torch.Tensor, expand: int, tapered_corners: bool) -> torch.Tensor:
    """GrowMask: ``|expand|`` steps of 3×3 grey dilation (expand > 0) or erosion (< 0).

    With tapered corners the footprint is a cross (corners grow diagonally only over two
    steps), else the full square. Borders behave as if the edge pixels repeat outward
    (``scipy.ndimage`` ``mode="reflect"`` for a 3×3 footprint, which ComfyUI uses).
    """
    out = as_mask_batch(mask).clone()
    for _ in range(abs(expand)):
        out = _step(out, tapered_corners, grow=expand > 0)
    return out


def _edge_factors(size: int, near: int, far: int) -> torch.Tensor:
    """Per-index feather factors along one axis, exactly ComfyUI's loops (index ``-0`` is 0,
    so the far edge's ramp starts on the first index and ends one short of the last)."""
    factors = [1.0] * size
    for i in range(near):
        factors[i] *= (i + 1) / near
    for i in range(far):
        factors[-i] *= (i + 1) / far
    return torch.tensor(factors, dtype=torch.float64)


def feather_mask(mask: torch.Tensor, left: int, top: int, right: int,
                 bottom: int) -> torch.Tensor:
    """FeatherMask: ramp the mask towards zero over ``left``/``top``/``right``/``bottom`` pixels
    from each edge (each clamped to the mask size)."""
    out = as_mask_batch(mask)
    height, width = out.shape[-2:]
    cols = _edge_factors(width, min(left, width), min(right, width))  # (W,)
    rows = _edge_factors(height, min(top, height), min(bottom, height))  # (H,)
    result = out.to(torch.float64) * cols[None, None, :] * rows[None, :, None]
    return result.to(out.dtype)  # (B, H, W)


def combine_masks(destination: torch.Tensor, source: torch.Tensor, x: int, y: int,
                  operation: str) -> torch.Tensor:
    """MaskComposite: combine ``source`` into a copy of ``destination`` at (x, y), clamp to
    [0, 1]. ``and``/``or``/``xor`` work on the masks rounded to 0/1."""
    if operation not in MASK_OPERATIONS:
        raise ValueError(f"operation {operation!r} is unknown; choose one of {MASK_OPERATIONS}")
    out = as_mask_batch(destination).clone()  # (B, H, W)
    src = repeat_to_batch(as_mask_batch(source).to(out.dtype), out.shape[0])  # (B, h, w)
    visible_w = min(src.shape[-1], out.shape[-1] - x)
    visible_h = min(src.shape[-2], out.shape[-2] - y)
    if visible_w > 0 and visible_h > 0:
        part = src[:, :visible_h, :visible_w]
        region = out[:, y:y + visible_h, x:x + visible_w]
        out[:, y:y + visible_h, x:x + visible_w] = _operate(region, part, operation)
    return out.clamp(0.0, 1.0)


def _operate(a: torch.Tensor, b: torch.Tensor, operation: str) -> torch.Tensor:
    if operation == "multiply":
        return a * b
    if operation == "add":
        return a + b
    if operation == "subtract":
        return a - b
    bits_a, bits_b = a.round().bool(), b.round().bool()
    if operation == "and":
        return (bits_a & bits_b).to(a.dtype)
    if operation == "or":
        return (bits_a | bits_b).to(a.dtype)
    return (bits_a ^ bits_b).to(a.dtype)
