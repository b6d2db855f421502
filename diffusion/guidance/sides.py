"""Per-step evaluation of several conditioning sides at once (the part of ComfyUI's sampling
function that guiders share): the sides are resolved once per run, then each call lets the
model's conditioning modifiers change the step's entries and batches every active entry through
``calc_cond_batch``. CFG uses two sides; dual CFG and Perp-Neg use three. Each evaluator is one
run's: it holds the run's keyframe clock for entries with weight hooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance.adm import AdmKind, Side
from diffusion.guidance.batching import ApplyModel, HookedApply, calc_cond_batch
from diffusion.guidance.cond import Cond
from diffusion.guidance.hook_schedule import ActiveHooks, KeyframeClock
from diffusion.guidance.hooks import NO_HOOKS, ModelHooks, StepConds
from diffusion.guidance.resolve import ModelInputs, ResolvedCond, resolve_sides
from diffusion.sampling.model_sampling import ModelSampling


@dataclass(frozen=True, eq=False)
class SideEvaluator:
    """``evaluate(x, sigma, skip)`` -> each side's weighted x0 prediction (B, C, H, W), in
    ``sides`` order; a side whose index is in ``skip`` is not evaluated (its prediction is 0)."""

    apply: ApplyModel
    sides: tuple[tuple[ResolvedCond, ...], ...]
    spatial: tuple[int, int]  # (H, W) the sides were resolved for
    hooks: ModelHooks = NO_HOOKS
    max_batch_area: int | None = None
    hooked: HookedApply | None = None  # how entries with weight hooks are evaluated

    @property
    def size_free(self) -> bool:
        """No entry has an area, mask or concat input: any latent size can be evaluated
        (SamplerLCMUpscale samples growing latents)."""
        return all(rc.area is None and rc.mask is None and rc.concat is None
                   for entries in self.sides for rc in entries)

    def __call__(self, x: Tensor, sigma: Tensor, skip: Sequence[int] = ()) -> list[Tensor]:
        if tuple(x.shape[2:]) != self.spatial and not self.size_free:
            raise ValueError(
                f"x has spatial size {tuple(x.shape[2:])}, resolved for {self.spatial}"
            )
        sides: tuple[Sequence[ResolvedCond] | None, ...] = tuple(
            None if i in skip else list(entries) for i, entries in enumerate(self.sides)
        )
        for modify in self.hooks.cond_modifiers:
            sides = modify(StepConds(sides, x, sigma))
        return calc_cond_batch(self.apply, sides, x, sigma, max_batch_area=self.max_batch_area,
                               hooked=self.hooked)


@dataclass(frozen=True, eq=False)
class SideInputs:
    """What resolving sides against one latent needs (see ``guided_denoiser``)."""

    latent_shape: Sequence[int]  # (B, C, H, W)
    adm: AdmKind = "none"
    inpaint_concat: bool = False
    latent_image: Tensor | None = None  # model space (B, C, H, W)
    denoise_mask: Tensor | None = None  # prepared (B, C, H, W)
    process_in: Callable[[Tensor], Tensor] | None = None
    max_batch_area: int | None = None
    dtype: torch.dtype | None = None
    x4_upscale: bool = False  # the x4 upscaler's inputs (``diffusion.guidance.x4_upscale``)
    noise_seed: int | None = None  # the run's noise seed, for the x4 upscaler's augmentation


def side_evaluator(
    apply: ApplyModel,
    model_sampling: ModelSampling,
    sides: Sequence[tuple[Sequence[Cond], Side]],
    inputs: SideInputs,
    hooks: ModelHooks = NO_HOOKS,
    order: Sequence[int] | None = None,
    apply_for: Callable[[ActiveHooks], ApplyModel] | None = None,
) -> SideEvaluator:
    """Resolves ``sides`` (in the order ComfyUI mirrors area entries) and returns their
    evaluator, whose sides are listed in ``order`` (indices into ``sides``; default: as given).
    ``apply_for`` applies the model patched for a hook group (None: hooked entries refused)."""
    shape = tuple(inputs.latent_shape)
    if len(shape) != 4:
        raise ValueError(f"latent_shape must be (B, C, H, W), got {shape!r}")
    if inputs.max_batch_area is not None and inputs.max_batch_area < 1:
        raise ValueError(f"max_batch_area must be >= 1 or None, got {inputs.max_batch_area!r}")
    latent_shape = (shape[0], shape[1], shape[2], shape[3])
    model_inputs = ModelInputs(latent_shape, inputs.adm, inputs.inpaint_concat,
                               inputs.latent_image, inputs.denoise_mask, inputs.process_in,
                               inputs.x4_upscale, inputs.noise_seed)
    resolved = resolve_sides(sides, model_sampling, model_inputs)
    picked = range(len(resolved)) if order is None else order
    hooked = None if apply_for is None else HookedApply(
        KeyframeClock(model_sampling.percent_to_sigma), apply_for)
    return SideEvaluator(apply, tuple(tuple(resolved[i]) for i in picked),
                         (latent_shape[2], latent_shape[3]), hooks, inputs.max_batch_area,
                         hooked)
