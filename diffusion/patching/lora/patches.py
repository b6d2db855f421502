"""``AdapterPatch``: one adapter of a LoRA file as a ``WeightPatch`` on one of our parameters.

``apply`` takes the target region — the whole weight, or rows ``[start, stop)`` of a fused
OpenCLIP ``in_proj``, transposed when the file's scheme stores the parameter transposed — adds
``strength * ΔW`` (``deltas``) in float32, and returns a new tensor; the input is never written.
``identity()`` names the file (path, size, mtime_ns; or an in-memory digest), the adapter's module
name in the file, our key, strength, slice, transposition and kind: no tensor bytes are hashed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from diffusion.patching.lora.deltas import Delta, LoraDelta
from diffusion.patching.patches import Identity


@dataclass(frozen=True, eq=False)
class AdapterPatch:
    key: str  # our parameter key
    delta: Delta
    strength: float
    source: Identity  # the LoRA file's identity
    file_key: str  # the adapter's module name in the file (+ ":bias" for a bias adapter)
    rows: tuple[int, int] | None = None
    transpose: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(float(self.strength)):
            raise ValueError(f"AdapterPatch {self.key!r}: strength={self.strength} is not finite")
        object.__setattr__(self, "strength", float(self.strength))

    @property
    def kind(self) -> str:
        return self.delta.kind

    def identity(self) -> Identity:
        return (
            *self.source,
            self.file_key,
            self.key,
            self.strength,
            self.rows,
            self.transpose,
            self.kind,
        )

    def _region(self, weight: Tensor) -> Tensor:
        part = weight if self.rows is None else weight[self.rows[0] : self.rows[1]]
        return part.t() if self.transpose else part

    def apply(self, weight: Tensor) -> Tensor:
        full = weight.float()  # no copy for float32: never written below
        part = self._region(full)
        if not self.delta.fits(tuple(part.shape)):
            raise ValueError(
                f"{self.file_key!r} ({self.kind}, ΔW {self.delta.shape}) does not fit "
                f"{self.key!r}: region shape {tuple(part.shape)}, rows={self.rows}, "
                f"transpose={self.transpose}"
            )
        fast = self._added(part)
        if fast is not None:
            return fast
        new = part + self.strength * self.delta.delta(part)
        if self.transpose:
            new = new.t()
        if self.rows is None:
            return new.contiguous()
        out = full.clone()
        out[self.rows[0] : self.rows[1]] = new
        return out


    def _added(self, part: Tensor) -> Tensor | None:
        """The whole weight plus a plain LoRA, built with one allocation (the common case)."""
        if self.rows is not None or self.transpose or not isinstance(self.delta, LoraDelta):
            return None
        return self.delta.added(part, self.strength)


__all__ = ["AdapterPatch"]
