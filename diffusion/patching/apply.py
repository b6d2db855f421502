"""``patched_copy``: a module with patched weights that shares every other tensor with its base.

The base module is never modified, so an unpatched user of it (cached, or running concurrently
in another thread) never sees patched weights. Patched weights are computed once, in float32
on the parameter's device, and stored in the dtype the module computes in
(``diffusion.weight_cast.compute_dtype_of``): an fp16/bf16 model computing in half precision gets
one fp16/bf16 copy of each patched weight and no float32 copy outlives its computation; a model
keeping its file's fp16 weights but computing in float32 (the CPU default) gets float32 patched
weights, exactly what patching an upcast model gives. Every unpatched parameter and buffer is
the base's own tensor object (same storage, no copy: a memory-mapped weight stays file-backed).
"""

from __future__ import annotations

import copy
import logging
from contextlib import ExitStack
from typing import NamedTuple

import torch
from torch import Tensor, nn

from diffusion.patching.patch_set import PatchSet
from diffusion.patching.patches import SourcedPatch, WeightPatch
from diffusion.weight_cast import compute_dtype_of

logger = logging.getLogger(__name__)


class PatchedCopy(NamedTuple):
    module: nn.Module
    nbytes: int  # bytes of the new (patched) tensors only; all others are the base's


def _parameters(module: nn.Module, patch_set: PatchSet) -> dict[str, nn.Parameter]:
    """The patched keys' parameters; ``KeyError`` naming up to 5 keys the module lacks."""
    params = dict(module.named_parameters())
    unknown = [key for key in patch_set.keys() if key not in params]
    if unknown:
        more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise KeyError(
            f"patches name parameters the module does not have: {unknown[:5]}{more}"
        )
    return {key: params[key] for key in patch_set.keys()}


def _stored_dtype(param: Tensor, compute: torch.dtype) -> torch.dtype:
    """A patched weight's dtype: the parameter's, or the compute dtype when it is wider (half
    weights upcast per layer keep their patched values in the dtype they are used in)."""
    if param.is_floating_point() and compute.itemsize > param.element_size():
        return compute
    return param.dtype


def patched_nbytes(module: nn.Module, patch_set: PatchSet) -> int:
    """Bytes ``patched_copy(module, patch_set)`` adds (one copy of each patched parameter)."""
    compute = compute_dtype_of(module)
    return sum(p.numel() * _stored_dtype(p, compute).itemsize
               for p in _parameters(module, patch_set).values())


def _patched_weight(key: str, param: nn.Parameter, patches: list[WeightPatch],
                    dtype: torch.dtype) -> Tensor:
    weight = param.detach().float()  # no copy when the base is already float32
    for patch in patches:
        weight = patch.apply(weight)
    if weight.shape != param.shape:
        raise ValueError(
            f"patches for {key!r} returned shape {tuple(weight.shape)}, "
            f"need {tuple(param.shape)}"
        )
    weight = weight.to(device=param.device, dtype=dtype)
    if weight.data_ptr() == param.data_ptr():  # a patch returned its input: still a new tensor
        weight = weight.clone()
    return weight


def _pin_sources(stack: ExitStack, patch_set: PatchSet) -> int:
    """Pins each distinct source model the set's patches read (once, however many patches)."""
    pinned = set()
    for patch in patch_set:
        if isinstance(patch, SourcedPatch) and patch.source_id() not in pinned:
            pinned.add(patch.source_id())
            stack.enter_context(patch.pin_source())
    return len(pinned)


def patched_weights(module: nn.Module, patch_set: PatchSet) -> dict[str, Tensor]:
    """The new value of every patched parameter, all computed and checked; module untouched.

    Source models read by patches (merges) are resident and pinned only during this call.
    """
    params = _parameters(module, patch_set)
    compute = compute_dtype_of(module)
    with ExitStack() as stack, torch.no_grad():
        _pin_sources(stack, patch_set)
        return {
            key: _patched_weight(key, params[key], patches,
                                 _stored_dtype(params[key], compute))
            for key, patches in patch_set.by_key().items()
        }


def patched_copy(module: nn.Module, patch_set: PatchSet) -> PatchedCopy:
    """A copy of ``module`` with ``patch_set`` applied; see the module docstring for sharing.

    Every patched weight is computed and shape-checked before the copy is built, so an unknown
    key (``KeyError``) or a bad shape (``ValueError``) leaves nothing half-built.
    """
    new_weights = patched_weights(module, patch_set)
    params = dict(module.named_parameters())
    memo: dict[int, object] = {id(t): t for t in [*module.parameters(), *module.buffers()]}
    for key, weight in new_weights.items():
        memo[id(params[key])] = nn.Parameter(weight, requires_grad=False)
    patched = copy.deepcopy(module, memo)
    nbytes = sum(w.numel() * w.element_size() for w in new_weights.values())
    logger.debug("patched %d weights (%d bytes) of %s", len(new_weights), nbytes,
                 type(module).__name__)
    return PatchedCopy(patched, nbytes)


__all__ = ["PatchedCopy", "patched_copy", "patched_nbytes", "patched_weights"]
