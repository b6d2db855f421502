"""ΔW of each adapter kind, computed in float32 from the (possibly fp16/bf16) file tensors.

Every ``Delta`` has a ``kind``, the ``shape`` of the ΔW its tensors imply (convolutions without a
tucker core are flattened to ``(out, in * kh * kw)``), ``fits(shape)`` (may it patch a weight of
that shape) and ``delta(weight)``: ΔW at strength 1 for ``weight`` (which IA3 and DoRA read),
reshaped to ``weight.shape`` — a linear LoRA on a 1x1 convolution and a 1x1 LoCon on a linear
weight both fit, as the element counts and output rows agree.

Conventions (LyCORIS' file conventions; ``scale`` is computed by the parser):

* LoRA / LoCon: ``ΔW = scale * up @ down``; with a tucker ``mid`` core,
  ``ΔW[o, i, h, w] = scale * Σ up[o, a] mid[a, b, h, w] down[b, i]``.
* LoHa: ``ΔW = scale * (w1a @ w1b) ⊙ (w2a @ w2b)``; tucker cores rebuild each factor as
  ``Σ t[a, b, h, w] wa[a, o] wb[b, i]``.
* LoKr: ``ΔW = scale * w1 ⊗ w2`` (each side full or ``a @ b``, ``w2`` optionally tucker).
* IA3: ``ΔW = W ⊙ v`` with ``v`` along the input (``on_input``) or output dimension, so that
  strength ``s`` gives ``W ⊙ (1 + s v)``.
* Full diff / norm: ``ΔW = diff``.
* DoRA: ``ΔW = m ⊙ (W + ΔW') / ‖W + ΔW'‖ - W`` with the norm per output row (PEFT's
  ``lora_magnitude_vector``; a ``dora_scale`` shaped like the output) or per input column
  (LyCORIS' ``dora_scale`` of shape ``(1, in, ...)``), so strength ``s`` interpolates linearly
  from ``W`` (0) to the DoRA weight (1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

import torch
from torch import Tensor

_EPS = torch.finfo(torch.float32).eps


class Delta(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    def fits(self, shape: tuple[int, ...]) -> bool: ...

    def delta(self, weight: Tensor) -> Tensor: ...


def _f32(tensor: Tensor, like: Tensor) -> Tensor:
    return tensor.to(device=like.device, dtype=torch.float32)


def _fits(implied: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Same element count and the same output rows (or equal shapes for 1-D targets)."""
    if not shape or not implied:
        return False
    return math.prod(implied) == math.prod(shape) and implied[0] == shape[0]


def _fit(delta: Tensor, weight: Tensor, kind: str) -> Tensor:
    if delta.shape == weight.shape:
        return delta
    if not _fits(tuple(delta.shape), tuple(weight.shape)):
        raise ValueError(
            f"{kind}: ΔW shape {tuple(delta.shape)} does not fit weight shape {tuple(weight.shape)}"
        )
    return delta.reshape(weight.shape)


def _tucker(core: Tensor, wa: Tensor, wb: Tensor) -> Tensor:
    """``Σ core[a, b, h, w] wa[a, o] wb[b, i]`` -> ``(out, in, kh, kw)``."""
    return torch.einsum("abhw,ao,bi->oihw", core, wa, wb)  # (out, in, kh, kw)


@dataclass(frozen=True, eq=False)
class LoraDelta:
    up: Tensor  # (out, r) or (out, r, 1, 1)
    down: Tensor  # (r, in) or (r, in, kh, kw); (r, in, 1, 1) with a mid core
    mid: Tensor | None  # (r, r, kh, kw) tucker core (LoCon)
    scale: float
    kind: ClassVar[str] = "lora"

    @property
    def shape(self) -> tuple[int, ...]:
        if self.mid is not None:
            return (self.up.shape[0], self.down.shape[1], *self.mid.shape[2:])
        return (self.up.shape[0], math.prod(self.down.shape[1:]))

    def fits(self, shape: tuple[int, ...]) -> bool:
        return _fits(self.shape, shape)

    def added(self, weight: Tensor, strength: float) -> Tensor | None:
        """``weight + strength * ΔW`` as one new float32 tensor, the product accumulated in place
        (no full-size temporaries: each one costs fresh pages); None with a tucker core."""
        if self.mid is None:
            out = weight.to(torch.float32, copy=True)  # (out, in[, kh, kw]), contiguous
            up = _f32(self.up, weight).flatten(1)  # (out, r)
            down = _f32(self.down, weight).flatten(1)  # (r, in * kh * kw)
            out.view(out.shape[0], -1).addmm_(up, down, alpha=strength * self.scale)
            return out
        return None

    def delta(self, weight: Tensor) -> Tensor:
        up = _f32(self.up, weight).flatten(1)  # (out, r)
        down = _f32(self.down, weight).flatten(1)  # (r, in * kh * kw)
        if self.mid is None:
            product = up @ down  # (out, in * kh * kw)
        else:
            product = torch.einsum("oa,abhw,bi->oihw", up, _f32(self.mid, weight), down)
        return _fit(product * self.scale, weight, self.kind)


def _factor(wa: Tensor, wb: Tensor, core: Tensor | None, like: Tensor) -> Tensor:
    """A LoHa / LoKr factor: ``wa @ wb`` (2-D), or rebuilt from a tucker core (4-D)."""
    if core is not None:
        return _tucker(_f32(core, like), _f32(wa, like), _f32(wb, like))  # (o, i, kh, kw)
    return _f32(wa, like) @ _f32(wb, like).flatten(1)  # (out, in * kh * kw)


def _factor_shape(wa: Tensor, wb: Tensor, core: Tensor | None) -> tuple[int, ...]:
    if core is not None:
        return (wa.shape[1], wb.shape[1], *core.shape[2:])
    return (wa.shape[0], math.prod(wb.shape[1:]))


@dataclass(frozen=True, eq=False)
class LohaDelta:
    w1a: Tensor
    w1b: Tensor
    w2a: Tensor
    w2b: Tensor
    t1: Tensor | None
    t2: Tensor | None
    scale: float
    kind: ClassVar[str] = "loha"

    @property
    def shape(self) -> tuple[int, ...]:
        return _factor_shape(self.w1a, self.w1b, self.t1)

    def factor_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The ΔW shapes the two Hadamard factors imply (they must agree)."""
        return self.shape, _factor_shape(self.w2a, self.w2b, self.t2)

    def fits(self, shape: tuple[int, ...]) -> bool:
        return _fits(self.shape, shape)

    def delta(self, weight: Tensor) -> Tensor:
        first = _factor(self.w1a, self.w1b, self.t1, weight)
        second = _factor(self.w2a, self.w2b, self.t2, weight)
        return _fit(first * second * self.scale, weight, self.kind)


@dataclass(frozen=True, eq=False)
class LokrDelta:
    w1: Tensor | None  # (a, c), or w1a @ w1b
    w1a: Tensor | None
    w1b: Tensor | None
    w2: Tensor | None  # (b, d) or (b, d, kh, kw), or w2a @ w2b, or tucker(t2, w2a, w2b)
    w2a: Tensor | None
    w2b: Tensor | None
    t2: Tensor | None
    scale: float
    kind: ClassVar[str] = "lokr"

    def _sides(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((rows, cols) of w1, (rows, flattened cols) of w2)."""
        if self.w1 is not None:
            first = (self.w1.shape[0], self.w1.shape[1])
        else:
            assert self.w1a is not None and self.w1b is not None
            first = (self.w1a.shape[0], self.w1b.shape[1])
        if self.w2 is not None:
            second = (self.w2.shape[0], math.prod(self.w2.shape[1:]))
        else:
            assert self.w2a is not None and self.w2b is not None
            implied = _factor_shape(self.w2a, self.w2b, self.t2)
            second = (implied[0], math.prod(implied[1:]))
        return first, second

    @property
    def shape(self) -> tuple[int, ...]:
        (a, c), (b, d) = self._sides()
        return (a * b, c * d)

    def fits(self, shape: tuple[int, ...]) -> bool:
        return _fits(self.shape, shape)

    def delta(self, weight: Tensor) -> Tensor:
        if self.w1 is not None:
            first = _f32(self.w1, weight)  # (a, c)
        else:
            assert self.w1a is not None and self.w1b is not None
            first = _f32(self.w1a, weight) @ _f32(self.w1b, weight)  # (a, c)
        if self.w2 is not None:
            second = _f32(self.w2, weight)
        else:
            assert self.w2a is not None and self.w2b is not None
            second = _factor(self.w2a, self.w2b, self.t2, weight)
        product = torch.kron(first, second.flatten(1))  # (a * b, c * d * kh * kw)
        return _fit(product * self.scale, weight, self.kind)


@dataclass(frozen=True, eq=False)
class IA3Delta:
    vector: Tensor  # (n,) or (1, n, 1, 1)
    on_input: bool
    kind: ClassVar[str] = "ia3"

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.vector.numel(),)

    def fits(self, shape: tuple[int, ...]) -> bool:
        return len(shape) >= 2 and shape[1 if self.on_input else 0] == self.vector.numel()

    def delta(self, weight: Tensor) -> Tensor:
        if not self.fits(tuple(weight.shape)):
            raise ValueError(
                f"ia3: vector of {self.vector.numel()} does not fit weight shape "
                f"{tuple(weight.shape)} (on_input={self.on_input})"
            )
        trailing = [1] * (weight.ndim - 2)
        vector = _f32(self.vector, weight).reshape(-1)
        if self.on_input:
            return weight * vector.reshape(1, -1, *trailing)  # scales input columns
        return weight * vector.reshape(-1, 1, *trailing)  # scales output rows


@dataclass(frozen=True, eq=False)
class DiffDelta:
    """A full weight or bias difference: LyCORIS ``diff``, ``diff_b``, ``w_norm``, ``b_norm``."""

    diff: Tensor
    kind: ClassVar[str] = "diff"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.diff.shape)

    def fits(self, shape: tuple[int, ...]) -> bool:
        return self.shape == shape or _fits(self.shape, shape)

    def delta(self, weight: Tensor) -> Tensor:
        return _fit(_f32(self.diff, weight), weight, self.kind)


DoraAxis = Literal["out", "in", "auto"]


def _column_norm(weight: Tensor, axis: Literal["out", "in"]) -> Tensor:
    trailing = [1] * (weight.ndim - 1)
    if axis == "out":
        return weight.flatten(1).norm(dim=1).reshape(-1, *trailing)  # (out, 1, ...)
    norms = weight.transpose(0, 1).flatten(1).norm(dim=1)  # (in,)
    return norms.reshape(-1, *trailing).transpose(0, 1)  # (1, in, 1, ...)


@dataclass(frozen=True, eq=False)
class DoraDelta:
    """Weight decomposition on top of ``inner`` (LoRA, LoHa or LoKr)."""

    inner: LoraDelta | LohaDelta | LokrDelta
    magnitude: Tensor
    axis: DoraAxis  # "auto": output rows when the magnitude has one entry per row (ComfyUI's rule)

    @property
    def kind(self) -> str:
        return f"dora+{self.inner.kind}"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.inner.shape

    def _axis(self, shape: tuple[int, ...]) -> Literal["out", "in"] | None:
        count = self.magnitude.numel()
        rows = self.magnitude.shape[0] if self.magnitude.ndim else 1
        if (
            self.axis in ("out", "auto")
            and count == shape[0]
            and (self.axis == "out" or rows == shape[0])
        ):
            return "out"
        if self.axis in ("in", "auto") and len(shape) >= 2 and count == shape[1]:
            return "in"
        return None

    def fits(self, shape: tuple[int, ...]) -> bool:
        return self.inner.fits(shape) and self._axis(shape) is not None

    def delta(self, weight: Tensor) -> Tensor:
        axis = self._axis(tuple(weight.shape))
        if axis is None:
            raise ValueError(
                f"dora: magnitude shape {tuple(self.magnitude.shape)} fits neither the rows nor "
                f"the columns of weight shape {tuple(weight.shape)}"
            )
        merged = weight + self.inner.delta(weight)
        norm = _column_norm(merged, axis) + _EPS
        magnitude = _f32(self.magnitude, weight).reshape(norm.shape)
        return merged * (magnitude / norm) - weight


__all__ = [
    "Delta",
    "DiffDelta",
    "DoraAxis",
    "DoraDelta",
    "IA3Delta",
    "LohaDelta",
    "LokrDelta",
    "LoraDelta",
]
