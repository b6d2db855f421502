"""Extracting a LoRA from full weight differences by truncated SVD (ComfyUI's LoraSave maths).

For each ``.weight`` of the model it is given (its patched weights, typically the difference
model ModelMergeSubtract makes) and a ``rank``:

* ``standard``: a 2-D weight, or a conv weight flattened to (out, in * kh * kw) (1x1 convs to
  (out, in)), becomes ``lora_up`` (out, r) = U[:, :r] * S[:r] and ``lora_down`` (r, ...) =
  Vh[:r] with ``r = min(rank, out, in)`` (``in`` is the weight's dim 1, as ComfyUI counts it);
  conv factors are reshaped to (out, r, 1, 1) and (r, in, kh, kw). Both factors are clamped to
  [-q, q] where q is the ``clamp_quantile`` (ComfyUI: 0.99) quantile of their concatenated
  values. A weight with fewer than 2 dims is saved whole as ``.diff`` when ``bias_diff``.
* ``full_diff``: every weight is saved whole as ``.diff``.
* ``bias_diff``: every ``.bias`` is saved whole as ``.diff_b``.

The SVD is the thin one (``full_matrices=False``): the same leading singular vectors as the full
SVD ComfyUI computes, without its (in*kh*kw)^2 matrix. At full rank and without the clamp
``up @ down`` reproduces the difference to float32 rounding; the clamp and the fp16 storage
ComfyUI uses make the saved factors an approximation even then.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from diffusion.saving.stream import TensorEntry

CLAMP_QUANTILE = 0.99  # ComfyUI's LoraSave clamps both factors at this quantile
LORA_TYPES = ("standard", "full_diff")
LoraType = Literal["standard", "full_diff"]
ItemKind = Literal["lora", "diff", "diff_b"]
_QUANTILE_LIMIT = 1 << 24  # torch.quantile refuses larger inputs


def lora_rank(shape: Sequence[int], rank: int) -> int:
    """The rank actually used for a weight of ``shape``: ``min(rank, out, in)``."""
    if rank < 1:
        raise ValueError(f"rank={rank} must be at least 1")
    return min(rank, shape[0], shape[1])


def factor_shapes(shape: Sequence[int], rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(lora_up shape, lora_down shape) of a 2-D or 4-D (conv) weight of ``shape``."""
    r = lora_rank(shape, rank)
    if len(shape) == 2:
        return (shape[0], r), (r, shape[1])
    if len(shape) == 4:
        return (shape[0], r, 1, 1), (r, shape[1], shape[2], shape[3])
    raise ValueError(f"a LoRA factors 2-D or 4-D weights; got shape {tuple(shape)}")


def _quantile(values: Tensor, q: float) -> Tensor:
    """``torch.quantile(values, q)`` (linear interpolation), also above its size limit."""
    if values.numel() <= _QUANTILE_LIMIT:
        return torch.quantile(values, q)
    position = q * (values.numel() - 1)
    low, frac = math.floor(position), position - math.floor(position)
    below = torch.kthvalue(values, low + 1).values
    above = torch.kthvalue(values, min(low + 2, values.numel())).values
    return torch.lerp(below, above, frac)


def extract_lora(diff: Tensor, rank: int, *,
                 clamp_quantile: float | None = CLAMP_QUANTILE) -> tuple[Tensor, Tensor]:
    """(up, down) in float32 with ``up @ down`` ~ ``diff`` (see the module docstring)."""
    shape = tuple(diff.shape)
    up_shape, down_shape = factor_shapes(shape, rank)
    r = up_shape[1]
    matrix = diff.detach().float().reshape(shape[0], -1)  # (out, in * kh * kw)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    up = u[:, :r] * s[:r]  # (out, r)
    down = vh[:r, :]  # (r, in * kh * kw)
    if clamp_quantile is not None:
        high = _quantile(torch.cat([up.flatten(), down.flatten()]), clamp_quantile)
        up, down = up.clamp(-high, high), down.clamp(-high, high)
    return up.reshape(up_shape), down.reshape(down_shape)


@dataclass(frozen=True)
class LoraItem:
    """One weight's share of the LoRA file: ``key`` of the weight, ``base`` of its file keys."""

    key: str
    base: str
    kind: ItemKind
    shape: tuple[int, ...]


def plan_lora(shapes: Mapping[str, tuple[int, ...]], prefix: str, lora_type: LoraType,
              bias_diff: bool) -> list[LoraItem]:
    """What ComfyUI's LoraSave writes for weights of these shapes, in their order."""
    if lora_type not in LORA_TYPES:
        raise ValueError(f"lora_type {lora_type!r}: choose one of {list(LORA_TYPES)}")
    items: list[LoraItem] = []
    for key, shape in shapes.items():
        if key.endswith(".weight"):
            base = prefix + key[: -len(".weight")]
            if lora_type == "full_diff":
                items.append(LoraItem(key, base, "diff", shape))
            elif len(shape) >= 2:
                factor_shapes(shape, 1)  # refuses 3-D / 5-D weights, naming the shape
                items.append(LoraItem(key, base, "lora", shape))
            elif bias_diff:
                items.append(LoraItem(key, base, "diff", shape))
        elif bias_diff and key.endswith(".bias"):
            items.append(LoraItem(key, prefix + key[: -len(".bias")], "diff_b", shape))
    return items


def lora_entries(items: Sequence[LoraItem], rank: int, dtype: torch.dtype) -> list[TensorEntry]:
    """The file's tensors for ``items``: up and down per factored weight, else the diff."""
    entries: list[TensorEntry] = []
    for item in items:
        if item.kind == "lora":
            up, down = factor_shapes(item.shape, rank)
            entries += [TensorEntry(f"{item.base}.lora_up.weight", up, dtype),
                        TensorEntry(f"{item.base}.lora_down.weight", down, dtype)]
        else:
            entries.append(TensorEntry(f"{item.base}.{item.kind}", item.shape, dtype))
    return entries


def lora_tensors(items: Sequence[LoraItem], weights: Mapping[str, Tensor], rank: int,
                 dtype: torch.dtype, *, clamp_quantile: float | None = CLAMP_QUANTILE,
                 ) -> Iterator[tuple[str, Tensor]]:
    """The tensors of ``lora_entries(items, …)``, computed one weight at a time."""
    for item in items:
        weight = weights[item.key]
        if item.kind == "lora":
            up, down = extract_lora(weight, rank, clamp_quantile=clamp_quantile)
            yield f"{item.base}.lora_up.weight", up.to(dtype).cpu()
            yield f"{item.base}.lora_down.weight", down.to(dtype).cpu()
        else:
            yield f"{item.base}.{item.kind}", weight.detach().to(dtype).cpu()


__all__ = ["CLAMP_QUANTILE", "LORA_TYPES", "LoraItem", "LoraType", "extract_lora",
           "factor_shapes", "lora_entries", "lora_rank", "lora_tensors", "plan_lora"]
