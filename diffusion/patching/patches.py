"""Weight patches: a parameter key, a content identity and a pure ``apply``.

A patch never modifies a module. ``apply`` receives a weight (any dtype, any device) and returns
a NEW tensor computed in float32; ``patched_copy`` (``diffusion.patching.apply``) casts the result
back to the parameter's dtype. ``identity()`` is what makes a patch cacheable: two patches with
equal identities must compute equal weights. It holds only JSON-encodable primitives (str, int,
float, bool, None, nested tuples of them) so that its digest is stable across processes; a LoRA
built from a file will use (file path, size, mtime, key, strength).
"""

from __future__ import annotations

import hashlib
import math
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

Identity = tuple[object, ...]  # JSON primitives (str, int, float, bool, None) or nested tuples


@runtime_checkable
class WeightPatch(Protocol):
    """Maps one parameter's weight to a new weight (LoRA, LoCon, weight diff ...).

    ``key`` is the module's own ``state_dict`` parameter key
    (``input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight``); mapping a LoRA file's keys
    onto these is the LoRA loader's job.
    """

    @property
    def key(self) -> str: ...

    def identity(self) -> Identity: ...

    def apply(self, weight: Tensor) -> Tensor: ...


@runtime_checkable
class SourcedPatch(Protocol):
    """A patch that reads another model when applied (``diffusion.patching.merge``).

    ``patched_weights`` pins each distinct ``source_id()`` once (``pin_source()``) around the
    whole computation, so many patches reading one source load it once.
    """

    def source_id(self) -> Identity: ...

    def pin_source(self) -> AbstractContextManager[object]: ...


def tensor_digest(tensor: Tensor) -> str:
    """sha256 over a tensor's dtype, shape and bytes (any dtype, any device)."""
    hasher = hashlib.sha256(f"{tensor.dtype}|{tuple(tensor.shape)}|".encode())
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)  # (N,) whatever the shape
    hasher.update(flat.view(torch.uint8).numpy())  # (N * element_size,) raw bytes
    return hasher.hexdigest()


@dataclass(frozen=True, eq=False)
class WeightDiff:
    """``W + strength * diff``: LyCORIS' full-weight "diff" format.

    ``diff`` is held by reference (never copied); its digest is computed once, here.
    """

    key: str
    diff: Tensor
    strength: float = 1.0
    _digest: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.diff, Tensor) or not self.diff.is_floating_point():
            got = getattr(self.diff, "dtype", type(self.diff).__name__)
            raise TypeError(f"WeightDiff {self.key!r}: diff must be a float tensor, got {got}")
        if not math.isfinite(float(self.strength)):
            raise ValueError(f"WeightDiff {self.key!r}: strength={self.strength} is not finite")
        object.__setattr__(self, "strength", float(self.strength))
        object.__setattr__(self, "_digest", tensor_digest(self.diff))

    def identity(self) -> Identity:
        return ("diff", self.key, self.strength, self._digest)

    def apply(self, weight: Tensor) -> Tensor:
        if weight.shape != self.diff.shape:
            raise ValueError(
                f"WeightDiff {self.key!r}: diff shape {tuple(self.diff.shape)} does not match "
                f"weight shape {tuple(weight.shape)}"
            )
        diff = self.diff.to(device=weight.device, dtype=torch.float32)
        return weight.float() + self.strength * diff


@dataclass(frozen=True)
class WeightScale:
    """The weight multiplied by ``factors``: one factor scales the whole weight; several split
    it into that many equal row blocks along dim 0, each scaled by its own factor (a fused
    ``in_proj`` holds q, k and v as three blocks). ComfyUI's ``add_patches({key: (None,)}, 0.0,
    factor)``: the weight as patched so far, times the factor."""

    key: str
    factors: tuple[float, ...]

    def __post_init__(self) -> None:
        factors = tuple(float(f) for f in self.factors)
        if not factors or not all(math.isfinite(f) for f in factors):
            raise ValueError(f"WeightScale {self.key!r}: factors={self.factors!r} must be one "
                             "or more finite numbers")
        object.__setattr__(self, "factors", factors)

    def identity(self) -> Identity:
        return ("scale", self.key, self.factors)

    def apply(self, weight: Tensor) -> Tensor:
        rows = weight.shape[0] if weight.ndim else 1
        if rows % len(self.factors):
            raise ValueError(f"WeightScale {self.key!r}: {rows} rows do not split into "
                             f"{len(self.factors)} equal blocks")
        scale = torch.tensor(self.factors, device=weight.device, dtype=torch.float32)
        scale = scale.repeat_interleave(rows // len(self.factors))  # (rows,)
        shape = (-1,) + (1,) * (weight.ndim - 1) if weight.ndim else ()
        return weight.float() * scale.reshape(shape)


__all__ = ["Identity", "SourcedPatch", "WeightDiff", "WeightPatch", "WeightScale",
           "tensor_digest"]
