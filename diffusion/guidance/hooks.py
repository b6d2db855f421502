"""Model-level hooks the MODEL payload carries into guidance (ComfyUI keeps these in
``model_options``). Frozen; a patch node derives a new ``ModelHooks`` with
:meth:`ModelHooks.plus`, so the input MODEL's hooks never change.

Where each kind acts during one model call, in order:

1. ``cond_modifiers`` change the step's conditioning entries;
2. the network runs (``unet_wrappers`` around it, the first innermost) with the attention input
   and token patches, the attention processors and the block patches inside;
3. ``pre_cfg`` functions see (and may replace) both sides' x0 predictions;
4. ``cfg`` (one function, the last set wins; ComfyUI's ``sampler_cfg_function``) replaces
   ``uncond + (cond - uncond) * scale``;
5. ``post_cfg`` functions change the guided prediction; they may call the model again
   (``PostCFGArgs.model``);
6. ``denoise_mask`` (one function, the last set wins) reshapes an inpainting noise mask each step.

``needs_uncond`` keeps the unconditional side evaluated at cfg 1 (ComfyUI's
``disable_cfg1_optimization``). Hooks with per-run state are :class:`RunBound` and are bound to
a fresh run state by :meth:`ModelHooks.for_run` when a sampling run starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor

from diffusion.guidance.adm import Side
from diffusion.guidance.cond import Cond
from diffusion.guidance.mask_hooks import DenoiseMaskFunction
from diffusion.guidance.resolve import ResolvedCond
from diffusion.guidance.run_state import RunBound, RunState, bind
from diffusion.unet.attention import AttentionProcessor, InputPatch
from diffusion.unet.block_patches import InputBlockPatch, OutputBlockPatch


class ModelAccess(Protocol):
    """The model as guidance functions may call it again during a step (ComfyUI hands them the
    model, its options and the step's conditioning): the step's cond or uncond conditioning, or
    another conditioning, evaluated at any x with extra attention processors (innermost). The
    entries are labelled cond (0) for the attention processors, as ComfyUI's
    ``calc_cond_batch(model, [conds], ...)`` labels them."""

    def cond(self, x: Tensor, sigma: Tensor,
             attention: Sequence[AttentionProcessor] = ()) -> Tensor: ...

    def uncond(self, x: Tensor, sigma: Tensor,
               attention: Sequence[AttentionProcessor] = ()) -> Tensor: ...

    def conditioning(self, conds: Sequence[Cond], side: Side, x: Tensor, sigma: Tensor,
                     attention: Sequence[AttentionProcessor] = ()) -> Tensor: ...


@dataclass(frozen=True, eq=False)
class PostCFGArgs:
    """What a post-CFG function sees (ComfyUI's ``sampler_post_cfg_function`` args)."""

    denoised: Tensor  # the guided prediction so far (B, C, H, W)
    cond_denoised: Tensor
    uncond_denoised: Tensor  # zeros when cfg == 1 skipped the negative side
    cond_scale: float
    sigma: Tensor  # (B,)
    x: Tensor  # the noisy input
    model: ModelAccess | None = None  # None where the guider offers no model calls


PostCFGFunction = Callable[[PostCFGArgs], Tensor]


@dataclass(frozen=True, eq=False)
class PreCFGArgs:
    """What a pre-CFG function sees (ComfyUI's ``sampler_pre_cfg_function`` args): both sides'
    predictions before they are combined."""

    cond_denoised: Tensor  # (B, C, H, W)
    uncond_denoised: Tensor  # zeros when cfg == 1 skipped the negative side
    cond_scale: float
    sigma: Tensor  # (B,)
    x: Tensor  # the noisy input
    uncond_skipped: bool = False  # the negative side was not evaluated (ComfyUI: it is None)


PreCFGFunction = Callable[[PreCFGArgs], tuple[Tensor, Tensor]]
"""Returns the (cond, uncond) predictions the CFG combination then uses."""


@dataclass(frozen=True, eq=False)
class CFGArgs:
    """What a CFG function sees (ComfyUI's ``sampler_cfg_function`` args, as x0 predictions)."""

    cond_denoised: Tensor  # (B, C, H, W)
    uncond_denoised: Tensor
    cond_scale: float
    sigma: Tensor  # (B,)
    x: Tensor  # the noisy input
    model: ModelAccess | None = None


CFGFunction = Callable[[CFGArgs], Tensor]
"""Returns the guided x0 prediction in place of ``uncond + (cond - uncond) * scale``."""


NetworkFn = Callable[..., Tensor]
UNetWrapper = Callable[[NetworkFn], NetworkFn]
"""Wraps the network function (compiled, another compute dtype …); returns the function run."""

Sides = tuple["Sequence[ResolvedCond] | None", ...]
"""The conditioning of one step: (positive, negative) entries; ``None`` = a skipped side."""


@dataclass(frozen=True, eq=False)
class StepConds:
    """What a conditioning modifier sees each step."""

    sides: Sides
    x: Tensor  # the noisy input (B, C, H, W)
    sigma: Tensor  # (B,)


CondModifier = Callable[[StepConds], Sides]
"""Returns the sides to evaluate this step (e.g. entries swapped, re-weighted or dropped)."""

_SINGLE = ("cfg", "denoise_mask")  # fields holding one function: the last one set wins


@dataclass(frozen=True)
class ModelHooks:
    """Hooks applied while a model is sampled (see the module docstring for where)."""

    post_cfg: tuple[PostCFGFunction, ...] = ()
    cond_modifiers: tuple[CondModifier, ...] = ()
    attention: tuple[AttentionProcessor, ...] = ()
    attention_inputs: tuple[InputPatch, ...] = ()
    pre_cfg: tuple[PreCFGFunction, ...] = ()
    cfg: CFGFunction | None = None
    block_inputs: tuple[InputBlockPatch, ...] = ()
    block_inputs_after_skip: tuple[InputBlockPatch, ...] = ()
    block_outputs: tuple[OutputBlockPatch, ...] = ()
    unet_wrappers: tuple[UNetWrapper, ...] = ()
    denoise_mask: DenoiseMaskFunction | None = None
    needs_uncond: bool = False

    def plus(self, *, post_cfg: Sequence[PostCFGFunction] = (),
             cond_modifiers: Sequence[CondModifier] = (),
             attention: Sequence[AttentionProcessor] = (),
             attention_inputs: Sequence[InputPatch] = (),
             pre_cfg: Sequence[PreCFGFunction] = (),
             cfg: CFGFunction | None = None,
             block_inputs: Sequence[InputBlockPatch] = (),
             block_inputs_after_skip: Sequence[InputBlockPatch] = (),
             block_outputs: Sequence[OutputBlockPatch] = (),
             unet_wrappers: Sequence[UNetWrapper] = (),
             denoise_mask: DenoiseMaskFunction | None = None,
             needs_uncond: bool = False) -> ModelHooks:
        """These hooks followed by the given ones (a new object); a given ``cfg`` or
        ``denoise_mask`` replaces this one's."""
        given = dict(post_cfg=post_cfg, cond_modifiers=cond_modifiers, attention=attention,
                     attention_inputs=attention_inputs, pre_cfg=pre_cfg, cfg=cfg,
                     block_inputs=block_inputs, block_inputs_after_skip=block_inputs_after_skip,
                     block_outputs=block_outputs, unet_wrappers=unet_wrappers,
                     denoise_mask=denoise_mask)
        changes: dict[str, Any] = {
            name: getattr(self, name) + tuple(value) for name, value in given.items()
            if name not in _SINGLE and value}
        changes.update({name: given[name] for name in _SINGLE if given[name] is not None})
        if needs_uncond:
            changes["needs_uncond"] = True
        return dataclasses.replace(self, **changes)

    def for_run(self) -> ModelHooks:
        """The hooks for one sampling run: each :class:`RunBound` hook replaced by what its
        ``bind_run`` gives for one fresh ``RunState`` (shared by all of them), in place; other
        hooks as they are. Without run-bound hooks, this object itself."""
        entries = [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]
        if not any(isinstance(h, RunBound) for _, value in entries
                   for h in (value if isinstance(value, tuple) else (value,))):
            return self
        run = RunState()
        changes: dict[str, Any] = {}
        for name, value in entries:
            if isinstance(value, tuple):
                changes[name] = tuple(bind(hook, run) for hook in value)
            elif name in _SINGLE and value is not None:
                changes[name] = bind(value, run)
        return dataclasses.replace(self, **changes)

    def __bool__(self) -> bool:
        return any(bool(getattr(self, f.name)) for f in dataclasses.fields(self))


NO_HOOKS = ModelHooks()
