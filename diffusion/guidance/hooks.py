"""Model-level hooks the MODEL payload carries into guidance (ComfyUI keeps these in
``model_options``): pre- and post-CFG functions, per-step conditioning modifiers and attention
processors and attention input patches. Frozen; a patch node derives a new ``ModelHooks`` with
:meth:`ModelHooks.plus`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from diffusion.guidance.resolve import ResolvedCond
from diffusion.unet.attention import AttentionInputPatch, AttentionProcessor


@dataclass(frozen=True, eq=False)
class PostCFGArgs:
    """What a post-CFG function sees (ComfyUI's ``sampler_post_cfg_function`` args)."""

    denoised: Tensor  # the guided prediction so far (B, C, H, W)
    cond_denoised: Tensor
    uncond_denoised: Tensor  # zeros when cfg == 1 skipped the negative side
    cond_scale: float
    sigma: Tensor  # (B,)
    x: Tensor  # the noisy input


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


PreCFGFunction = Callable[[PreCFGArgs], tuple[Tensor, Tensor]]
"""Returns the (cond, uncond) predictions the CFG combination then uses."""

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


@dataclass(frozen=True)
class ModelHooks:
    """Hooks applied while a model is sampled, in order."""

    post_cfg: tuple[PostCFGFunction, ...] = ()
    cond_modifiers: tuple[CondModifier, ...] = ()
    attention: tuple[AttentionProcessor, ...] = ()
    attention_inputs: tuple[AttentionInputPatch, ...] = ()
    pre_cfg: tuple[PreCFGFunction, ...] = ()

    def plus(self, *, post_cfg: Sequence[PostCFGFunction] = (),
             cond_modifiers: Sequence[CondModifier] = (),
             attention: Sequence[AttentionProcessor] = (),
             attention_inputs: Sequence[AttentionInputPatch] = (),
             pre_cfg: Sequence[PreCFGFunction] = ()) -> ModelHooks:
        """These hooks followed by the given ones (a new object)."""
        return ModelHooks(self.post_cfg + tuple(post_cfg),
                          self.cond_modifiers + tuple(cond_modifiers),
                          self.attention + tuple(attention),
                          self.attention_inputs + tuple(attention_inputs),
                          self.pre_cfg + tuple(pre_cfg))

    def __bool__(self) -> bool:
        return bool(self.post_cfg or self.cond_modifiers or self.attention
                    or self.attention_inputs or self.pre_cfg)


NO_HOOKS = ModelHooks()
