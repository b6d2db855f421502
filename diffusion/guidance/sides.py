"""Per-step evaluation of several conditioning sides at once (the part of ComfyUI's sampling
function that guiders share): the sides are resolved once per run, then each call lets the
model's conditioning modifiers change the step's entries and batches every active entry through
``calc_cond_batch``. CFG uses two sides; dual CFG and Perp-Neg use three. Each evaluator is one
run's: it holds the run's keyframe clock for entries with weight hooks, and can evaluate entries
again (the run's own, or another conditioning resolved for the run) with extra attention
processors, for guidance functions that call the model again (``ModelCalls``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from diffusion.guidance.adm import AdmKind, Side
from diffusion.guidance.apply_model import ModelApplier
from diffusion.guidance.batching import ApplyModel, HookedApply, calc_cond_batch
from diffusion.guidance.cond import Cond, ControlRun
from diffusion.guidance.hook_schedule import KeyframeClock
from diffusion.guidance.hooks import NO_HOOKS, ModelHooks, StepConds
from diffusion.guidance.resolve import (
    BoundControls,
    ModelInputs,
    ResolvedCond,
    resolve_cond,
    resolve_sides,
)
from diffusion.guidance.unclip import AdmNoise
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.unet.attention import AttentionProcessor

Resolver = Callable[[Sequence[Cond], Side], tuple[ResolvedCond, ...]]


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
    applier: ModelApplier | None = None  # builds the model application for other hooks
    resolver: Resolver | None = None  # resolves other conditioning for this run
    _resolved: dict[tuple[int, str], tuple[ResolvedCond, ...]] = field(
        default_factory=dict, repr=False)

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

    def evaluate_entries(self, entries: Sequence[ResolvedCond], x: Tensor, sigma: Tensor,
                         attention: Sequence[AttentionProcessor] = ()) -> Tensor:
        """The weighted x0 prediction of ``entries`` alone (labelled cond, as ComfyUI's
        ``calc_cond_batch(model, [entries], ...)``), with ``attention`` processors added
        innermost; the step's conditioning modifiers are not applied."""
        apply, hooked = self.apply, self.hooked
        if attention:
            if self.applier is None:
                raise ValueError("this evaluator cannot add attention processors: it was "
                                 "built without a ModelApplier")
            hooks = self.hooks.plus(attention=attention)
            apply = self.applier.apply(hooks)
            apply_for = self.applier.apply_for(hooks)
            if hooked is not None and apply_for is not None:
                hooked = dataclasses.replace(hooked, apply_for=apply_for)
        (out,) = calc_cond_batch(apply, [list(entries)], x, sigma,
                                 max_batch_area=self.max_batch_area, hooked=hooked)
        return out

    def resolved(self, conds: Sequence[Cond], side: Side) -> tuple[ResolvedCond, ...]:
        """``conds`` resolved for this run as ``side`` (once per run and value)."""
        if self.resolver is None:
            raise ValueError("this evaluator cannot resolve other conditioning: it was built "
                             "without a resolver")
        key = (id(conds), side)
        if key not in self._resolved:
            self._resolved[key] = self.resolver(conds, side)
        return self._resolved[key]


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
    ip2p_concat: bool = False  # an InstructPix2Pix UNet: the entries' image latent as concat
    adm_noise: AdmNoise | None = None  # unCLIP conditioning: the model's augmentation, seed


def _resolver(model_sampling: ModelSampling, inputs: ModelInputs,
              bound: BoundControls) -> Resolver:
    def resolve(conds: Sequence[Cond], side: Side) -> tuple[ResolvedCond, ...]:
        return tuple(resolve_cond(c, side, model_sampling, inputs, bound) for c in conds)

    return resolve


def _network(applier: ModelApplier) -> nn.Module | None:
    """The network sampled when it is a module (Control-LoRAs rebuild from its weights)."""
    return applier.unet_fn if isinstance(applier.unet_fn, nn.Module) else None


def side_evaluator(
    applier: ModelApplier,
    sides: Sequence[tuple[Sequence[Cond], Side]],
    inputs: SideInputs,
    hooks: ModelHooks = NO_HOOKS,
    order: Sequence[int] | None = None,
) -> SideEvaluator:
    """Resolves ``sides`` (in the order ComfyUI mirrors area entries) and returns their
    evaluator, whose sides are listed in ``order`` (indices into ``sides``; default: as given),
    evaluated by ``applier``'s model with ``hooks`` (entries with weight hooks through its
    ``unet_for``; without one they are refused)."""
    shape = tuple(inputs.latent_shape)
    if len(shape) != 4:
        raise ValueError(f"latent_shape must be (B, C, H, W), got {shape!r}")
    if inputs.max_batch_area is not None and inputs.max_batch_area < 1:
        raise ValueError(f"max_batch_area must be >= 1 or None, got {inputs.max_batch_area!r}")
    latent_shape = (shape[0], shape[1], shape[2], shape[3])
    ms = applier.model_sampling
    model_inputs = ModelInputs(latent_shape, inputs.adm, inputs.inpaint_concat,
                               inputs.latent_image, inputs.denoise_mask, inputs.process_in,
                               inputs.ip2p_concat, ControlRun(ms, inputs.dtype, _network(applier)),
                               inputs.adm_noise)
    bound: BoundControls = {}
    resolved = resolve_sides(sides, ms, model_inputs, bound)
    picked = range(len(resolved)) if order is None else order
    apply_for = applier.apply_for(hooks)
    hooked = None if apply_for is None else HookedApply(
        KeyframeClock(ms.percent_to_sigma), apply_for)
    return SideEvaluator(applier.apply(hooks), tuple(tuple(resolved[i]) for i in picked),
                         (latent_shape[2], latent_shape[3]), hooks, inputs.max_batch_area,
                         hooked, applier, _resolver(ms, model_inputs, bound))
