"""Weight hooks turned into the patched models they stand for.

* Sampling: ``hooked_unets(models, model)`` is the ``GuidedModel.unet_for`` of one run. For a
  hook group at its current keyframe strengths it gives the UNet with the model's own patches
  followed by each hook's patches at ``strength_model`` x keyframe strength. The patch set of
  each (group, strengths) is built once per run; the patched copy itself is the
  ``ModelManager``'s, one per patch-set digest, so it is built once and reused across steps and
  runs while it stays resident. Memory: the copy is pinned only around each forward, not for the
  whole run, so keyframes that produce several strengths never hold several hooked copies at
  once beyond what the manager's budget allows; idle copies are evicted like any model and
  rebuilt on the next use (the cost of a tight budget is rebuilding, not running out).
* Encoding: ``clip_variants(clip)`` is what a CLIP with hooks encodes with: the hooks' patches
  appended to each encoder's at ``strength_clip`` (keyframes ignored), or with
  ``schedule_hooks`` one variant per keyframe range (``clip_schedule``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from diffusion.guidance import Cond, Conditioning
from diffusion.guidance.denoiser import UNetFn, UNetProvider
from diffusion.guidance.hook_schedule import ActiveHooks
from diffusion.guidance.hooked import HookGroup, WeightHook
from diffusion.patching import PatchSet
from nodes.api import ModelStore
from nodes.hooks.clip_schedule import clip_schedule
from nodes.hooks.sources import EncoderPatches, patch_source
from nodes.payloads import Clip, DiffusionModel


def model_patch_set(model: DiffusionModel, active: ActiveHooks) -> PatchSet:
    """The model's patches, then each hook's at its current model strength."""
    patches = model.patches
    for hook, strength in active.model_strengths():
        patches = patches.plus(*patch_source(hook).model_patches(model, strength))
    return patches


def hooked_unets(models: ModelStore, model: DiffusionModel) -> UNetProvider:
    """The UNet patched for a hook group at its strengths (see the module docstring)."""
    patch_sets: dict[ActiveHooks, PatchSet] = {}

    def unet_for(active: ActiveHooks) -> UNetFn:
        if active not in patch_sets:
            patch_sets[active] = model_patch_set(model, active)
        patches = patch_sets[active]

        def forward(*args: Any, **kwargs: Any) -> Tensor:
            with models.use(model.unet, patches) as unet:
                out: Tensor = unet(*args, **kwargs)
                return out

        return forward

    return unet_for


@dataclass(frozen=True, eq=False)
class ClipVariant:
    """A CLIP to encode with (hooks applied to its encoders' patches) and the range of the
    schedule its entries are for (None: the whole schedule)."""

    clip: Clip
    clip_range: tuple[float, float] | None = None


def _patched_clip(clip: Clip, hooks: Iterable[tuple[WeightHook, float]]) -> Clip:
    """``clip`` with each hook's patches appended at its strength, its hooks cleared."""
    by_encoder: list[EncoderPatches] = [patch_source(hook).clip_patches(clip, strength)
                                        for hook, strength in hooks]
    encoders = tuple(
        dataclasses.replace(ref, patches=ref.patches.plus(
            *(p for found in by_encoder for p in found.get(ref.name, ()))))
        for ref in clip.encoders
    )
    return dataclasses.replace(clip, encoders=encoders, hooks=None, schedule_hooks=False,
                               cond_hooks=None)


def clip_variants(clip: Clip) -> list[ClipVariant]:
    """What ``clip`` encodes with: itself without hooks; its hooks at ``strength_clip``; or,
    scheduled, one variant per keyframe range. An empty group counts as no hooks."""
    group: HookGroup | None = clip.hooks or None
    if group is None:
        return [ClipVariant(clip)]
    if not clip.schedule_hooks:
        return [ClipVariant(_patched_clip(clip, ((h, h.strength_clip) for h in group.hooks)))]
    return [
        ClipVariant(
            _patched_clip(clip, ((h, h.strength_clip * m)
                                 for h, m in zip(group.hooks, piece.multipliers, strict=True))),
            (piece.start_percent, piece.end_percent),
        )
        for piece in clip_schedule(group)
    ]


def encode_with_hooks(clip: Clip, encode: Callable[[Clip], Cond]) -> Conditioning:
    """``encode`` once per variant of ``clip``; each entry carries its range and, when the CLIP
    applies its hooks to conditioning, those hooks (with their keyframes)."""
    out = []
    for variant in clip_variants(clip):
        entry = encode(variant.clip)
        changes: dict[str, Any] = {}
        if variant.clip_range is not None:
            changes.update(clip_start_percent=variant.clip_range[0],
                           clip_end_percent=variant.clip_range[1])
        if clip.cond_hooks is not None:
            changes["hooks"] = clip.cond_hooks
        out.append(dataclasses.replace(entry, **changes) if changes else entry)
    return tuple(out)


__all__ = ["ClipVariant", "clip_variants", "encode_with_hooks", "hooked_unets",
           "model_patch_set"]
