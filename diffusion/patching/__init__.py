"""Weight patches with an identity (LoRA and friends build on these).

* ``WeightPatch`` — protocol: ``key``, ``identity()``, ``apply(weight) -> new weight``;
  ``WeightDiff`` is the full-weight diff (``W + strength * diff``), ``WeightScale`` a factor on
  a weight (or on each row block of a fused one).
* ``PatchSet`` — an ordered, hashable set of patches whose ``digest`` names its content.
* ``MergePatch`` (``merge``) — blends with another model's weight, read through its handle
  when applied; ``plan_merge`` makes one per shared key of two models.
* ``patched_copy`` — a new module with the set applied, sharing all unpatched tensors with the
  (never modified) base. ``ModelManager.use(handle, patches)`` keeps one such copy per
  (handle, digest) resident.

LoRA / LyCORIS files become such patches through ``diffusion.patching.lora``.
"""

from __future__ import annotations

from diffusion.patching.apply import PatchedCopy, patched_copy, patched_nbytes, patched_weights
from diffusion.patching.merge import MergePatch, MergePlan, plan_merge
from diffusion.patching.patch_set import PatchSet
from diffusion.patching.patches import (
    Identity,
    SourcedPatch,
    WeightDiff,
    WeightPatch,
    WeightScale,
    tensor_digest,
)

__all__ = [
    "Identity",
    "MergePatch",
    "MergePlan",
    "PatchSet",
    "PatchedCopy",
    "SourcedPatch",
    "WeightDiff",
    "WeightPatch",
    "WeightScale",
    "patched_copy",
    "patched_nbytes",
    "patched_weights",
    "plan_merge",
    "tensor_digest",
]
