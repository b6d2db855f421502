"""Merge patches: blend a weight with the same weight of ANOTHER model, read when applied.

``MergePatch(key, source, source_key, self_scale, source_scale)`` computes
``self_scale * weight + source_scale * other`` in float32, where ``other`` is parameter
``source_key`` of the component behind ``source`` (a ``ModelHandle``) with ``source_patches``
applied. The patch holds no tensor: the other model is made resident through its handle's
manager (``source.use(source_patches)``) only while the patched copy is being built, so its
identity is the source file's (path, size, mtime_ns), component, key, patch digest and scales,
and no tensor is hashed.

Memory: ``patched_weights`` pins every distinct source of a patch set once for the whole
computation (``SourcedPatch``), so N merge patches read the source model once, not N times;
each ``apply`` then finds it resident (``use`` is re-entrant under the manager's lock). When the
patched copy is built the sources are unpinned and are evicted like any idle model.

ComfyUI's ``add_patches(patches, strength_patch, strength_model)`` with a model's weight as the
patch is this patch with ``self_scale = strength_model`` and ``source_scale = strength_patch``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor, nn

from diffusion.patching.patch_set import PatchSet
from diffusion.patching.patches import Identity

Shapes = Mapping[str, tuple[int, ...]]


class SourceFile(Protocol):
    """A file's cheap identity (``diffusion.memory.FileKey``)."""

    @property
    def path(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def mtime_ns(self) -> int: ...


class MergeSource(Protocol):
    """The other model (``diffusion.memory.ModelHandle``): its file, component and residency."""

    @property
    def key(self) -> SourceFile: ...

    @property
    def component(self) -> str: ...

    def use(self, patches: PatchSet = ...) -> AbstractContextManager[nn.Module]: ...


def _finite(value: float, what: str, key: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"MergePatch {key!r}: {what}={value} is not finite")
    return value


@dataclass(frozen=True, eq=False)
class MergePatch:
    """``self_scale * W + source_scale * W_other`` (see the module docstring)."""

    key: str
    source: MergeSource
    source_key: str
    self_scale: float
    source_scale: float
    source_patches: PatchSet = field(default=PatchSet.EMPTY)

    def __post_init__(self) -> None:
        object.__setattr__(self, "self_scale", _finite(self.self_scale, "self_scale", self.key))
        object.__setattr__(self, "source_scale",
                           _finite(self.source_scale, "source_scale", self.key))
        if not isinstance(self.source_patches, PatchSet):
            raise TypeError(f"MergePatch {self.key!r}: source_patches must be a PatchSet, got "
                            f"{type(self.source_patches).__name__}")

    def source_id(self) -> Identity:
        """What this patch reads: one residency of the source (file, component, patches)."""
        file = self.source.key
        return (file.path, file.size, file.mtime_ns, self.source.component,
                self.source_patches.digest)

    def identity(self) -> Identity:
        return ("merge", self.key, *self.source_id(), self.source_key, self.self_scale,
                self.source_scale)

    def pin_source(self) -> AbstractContextManager[nn.Module]:
        """The source component (with its patches), resident and pinned inside the block."""
        return self.source.use(self.source_patches)

    def _other(self, module: nn.Module, weight: Tensor) -> Tensor:
        try:
            other = module.get_parameter(self.source_key)
        except AttributeError:
            raise KeyError(f"MergePatch {self.key!r}: the source {self.source.component} of "
                           f"{self.source.key.path} has no parameter {self.source_key!r}"
                           ) from None
        if other.shape != weight.shape:
            raise ValueError(f"MergePatch {self.key!r}: weight shape {tuple(weight.shape)} but "
                             f"source {self.source_key!r} of {self.source.key.path} has shape "
                             f"{tuple(other.shape)}")
        return other.detach().to(device=weight.device, dtype=torch.float32)

    def apply(self, weight: Tensor) -> Tensor:
        with self.pin_source() as module:
            other = self._other(module, weight)
        return self.self_scale * weight.float() + self.source_scale * other


@dataclass(frozen=True)
class MergePlan:
    """The patches of one merge and the shared keys left out because their shapes differ."""

    patches: tuple[MergePatch, ...]
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    shared: int  # keys both models have (mismatched and skipped ones included)


Scales = Callable[[str], tuple[float, float]]


def plan_merge(target: Shapes, source_shapes: Shapes, source: MergeSource, scales: Scales, *,
               source_patches: PatchSet = PatchSet.EMPTY,
               skip: Callable[[str], bool] = lambda key: False) -> MergePlan:
    """A merge patch for every key of ``source_shapes`` (in its order) that ``target`` has with
    the same shape, scaled by ``scales(key) -> (self_scale, source_scale)``.

    Keys only one model has are left alone; ``skip(key)`` leaves a key out; a key whose scales
    are (1, 0) gets no patch (it would compute the weight itself).
    """
    patches: list[MergePatch] = []
    mismatched = []
    shared = 0
    for key, shape in source_shapes.items():
        if key not in target:
            continue
        shared += 1
        if skip(key):
            continue
        if tuple(target[key]) != tuple(shape):
            mismatched.append((key, tuple(target[key]), tuple(shape)))
            continue
        self_scale, source_scale = scales(key)
        if self_scale == 1.0 and source_scale == 0.0:
            continue
        patches.append(MergePatch(key, source, key, self_scale, source_scale, source_patches))
    return MergePlan(tuple(patches), tuple(mismatched), shared)


__all__ = ["MergePatch", "MergePlan", "MergeSource", "Scales", "SourceFile", "plan_merge"]
