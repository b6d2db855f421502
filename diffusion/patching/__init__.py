"""Weight patches with an identity (LoRA and friends build on these).

* ``WeightPatch`` — protocol: ``key``, ``identity()``, ``apply(weight) -> new weight``;
  ``WeightDiff`` is the full-weight diff (``W + strength * diff``).
* ``PatchSet`` — an ordered, hashable set of patches whose ``digest`` names its content.
* ``patched_copy`` — a new module with the set applied, sharing all unpatched tensors with the
  (never modified) base. ``ModelManager.use(handle, patches)`` keeps one such copy per
  (handle, digest) resident.

LoRA / LyCORIS files become such patches through ``diffusion.patching.lora``.
"""

from __future__ import annotations

from diffusion.patching.apply import PatchedCopy, patched_copy, patched_nbytes, patched_weights
from diffusion.patching.patch_set import PatchSet
from diffusion.patching.patches import Identity, WeightDiff, WeightPatch, tensor_digest

__all__ = [
    "Identity",
    "PatchSet",
    "PatchedCopy",
    "WeightDiff",
    "WeightPatch",
    "patched_copy",
    "patched_nbytes",
    "patched_weights",
    "tensor_digest",
]
