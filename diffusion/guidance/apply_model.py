"""One network call as guidance makes it (ComfyUI's ``BaseModel.apply_model``), with the model's
hooks inside: the network wrappers around it, the attention and block patches in it.

``ModelApplier`` builds that call for a set of hooks, so guidance can call the model again with
extra attention processors (PAG's perturbed self-attention) without rebuilding anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.batching import ApplyModel
from diffusion.guidance.hook_schedule import ActiveHooks
from diffusion.guidance.hooks import NO_HOOKS, ModelHooks
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.unet.attention import AttentionHooks
from diffusion.unet.block_patches import BlockPatches
from diffusion.unet.hooks import UNetResiduals

UNetFn = Callable[..., Tensor]
"""``unet(x_in, timesteps, context, y=..., residuals=..., attention=..., blocks=...) -> eps | v``,
as ``UNetModel.forward``; ``y`` is passed only to ADM models, ``residuals`` only when a control
hook returned some, ``attention`` only when the model has attention processors or input patches,
``blocks`` only when it has block patches."""

UNetProvider = Callable[[ActiveHooks], UNetFn]
"""The network patched by a hook group at its current strengths (weight hooks on conditioning;
``diffusion.guidance.hooked``)."""

logger = logging.getLogger(__name__)


def wrapped(unet_fn: UNetFn, hooks: ModelHooks) -> UNetFn:
    """``unet_fn`` inside the hooks' network wrappers (the first innermost)."""
    for wrap in hooks.unet_wrappers:
        unet_fn = wrap(unet_fn)
    return unet_fn


def _patch_kwargs(hooks: ModelHooks, sigma: Tensor, cond_or_uncond: tuple[int, ...]
                  ) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if hooks.attention or hooks.attention_inputs:
        kwargs["attention"] = AttentionHooks(hooks.attention, cond_or_uncond,
                                             hooks.attention_inputs, sigmas=sigma)
    if hooks.block_inputs or hooks.block_inputs_after_skip or hooks.block_outputs:
        kwargs["blocks"] = BlockPatches(hooks.block_inputs, hooks.block_inputs_after_skip,
                                        hooks.block_outputs, sigma, cond_or_uncond)
    return kwargs


def make_apply_model(
    unet_fn: UNetFn,
    model_sampling: ModelSampling,
    dtype: torch.dtype | None = None,
    hooks: ModelHooks = NO_HOOKS,
) -> ApplyModel:
    """ComfyUI's ``BaseModel.apply_model``: c_in scaling, the concat input (inpainting,
    InstructPix2Pix), the network's inputs cast to ``dtype`` (None: as they are), discrete
    timestep, then x0 from eps / v in float32. The hooks' attention processors, input patches
    and block patches reach the UNet with the batch's cond/uncond layout (and its sigmas)."""
    network = wrapped(unet_fn, hooks)

    def apply(
        x: Tensor,
        sigma: Tensor,
        context: Tensor,
        y: Tensor | None,
        concat: Tensor | None,
        residuals: UNetResiduals | None,
        cond_or_uncond: tuple[int, ...],
    ) -> Tensor:
        x_in = model_sampling.calculate_input(sigma, x)
        if concat is not None:
            x_in = torch.cat([x_in, concat.to(x_in)], dim=1)  # (B, C + k, h, w)
        if dtype is not None:
            x_in = x_in.to(dtype)
        timesteps = model_sampling.timestep(sigma).float()
        kwargs = _patch_kwargs(hooks, sigma, cond_or_uncond)
        if y is not None:
            kwargs["y"] = y.to(x_in)
        if residuals is not None:
            kwargs["residuals"] = residuals
        output = network(x_in, timesteps, context.to(x_in), **kwargs)
        return model_sampling.calculate_denoised(sigma, output.float(), x)

    return apply


def hooked_apply_models(
    unet_for: UNetProvider | None,
    model_sampling: ModelSampling,
    dtype: torch.dtype | None = None,
    hooks: ModelHooks = NO_HOOKS,
) -> Callable[[ActiveHooks], ApplyModel] | None:
    """``make_apply_model`` of the network ``unet_for`` gives for a hook group (None: none)."""
    if unet_for is None:
        return None
    provider = unet_for

    def apply_for(active: ActiveHooks) -> ApplyModel:
        return make_apply_model(provider(active), model_sampling, dtype, hooks)

    return apply_for


@dataclass(frozen=True, eq=False)
class ModelApplier:
    """The network, its schedule and dtype, and its provider of weight-hooked networks: builds
    the model application (and the hooked ones) for a set of hooks."""

    unet_fn: UNetFn
    model_sampling: ModelSampling
    dtype: torch.dtype | None = None
    unet_for: UNetProvider | None = None

    def apply(self, hooks: ModelHooks) -> ApplyModel:
        return make_apply_model(self.unet_fn, self.model_sampling, self.dtype, hooks)

    def apply_for(self, hooks: ModelHooks) -> Callable[[ActiveHooks], ApplyModel] | None:
        return hooked_apply_models(self.unet_for, self.model_sampling, self.dtype, hooks)


__all__ = ["ModelApplier", "UNetFn", "UNetProvider", "hooked_apply_models", "make_apply_model",
           "wrapped"]
