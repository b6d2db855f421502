"""Classifier-free guidance as a denoiser for the samplers (ComfyUI's ``sampling_function``).

``guided_denoiser`` resolves both CONDITIONING sides once, then per call lets the model's
conditioning modifiers change the step's entries, evaluates every active entry
(``calc_cond_batch``), skips the negative side when cfg == 1, and combines
``uncond + (cond - uncond) * cfg`` followed by the post-CFG functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.adm import AdmKind
from diffusion.guidance.batching import ApplyModel
from diffusion.guidance.cond import Cond
from diffusion.guidance.hook_schedule import ActiveHooks
from diffusion.guidance.hooks import (
    NO_HOOKS,
    ModelHooks,
    PostCFGArgs,
    PostCFGFunction,
    PreCFGArgs,
)
from diffusion.guidance.sides import SideInputs, side_evaluator
from diffusion.sampling.model_sampling import Denoiser, ModelSampling
from diffusion.sampling.uncond import UncondTap
from diffusion.unet.attention import AttentionHooks, MiddlePatch
from diffusion.unet.hooks import UNetResiduals

UNetFn = Callable[..., Tensor]
"""``unet(x_in, timesteps, context, y=..., residuals=..., attention=...) -> eps | v``, as
``UNetModel.forward``; ``y`` is passed only to ADM models, ``residuals`` only when a control hook
returned some, ``attention`` only when the model has attention processors."""

UNetProvider = Callable[[ActiveHooks], UNetFn]
"""The network patched by a hook group at its current strengths (weight hooks on conditioning;
``diffusion.guidance.hooked``)."""

logger = logging.getLogger(__name__)


def make_apply_model(
    unet_fn: UNetFn,
    model_sampling: ModelSampling,
    dtype: torch.dtype | None = None,
    hooks: ModelHooks = NO_HOOKS,
) -> ApplyModel:
    """ComfyUI's ``BaseModel.apply_model``: c_in scaling, inpaint concat, the network's inputs
    cast to ``dtype`` (None: as they are; integer class labels keep theirs), discrete timestep,
    then x0 from eps / v in float32. The hooks' attention processors and input patches, and the
    batch's middle patches (grounding), reach the UNet with the batch's cond/uncond layout."""
    attention, inputs = hooks.attention, hooks.attention_inputs

    def apply(
        x: Tensor,
        sigma: Tensor,
        context: Tensor,
        y: Tensor | None,
        concat: Tensor | None,
        residuals: UNetResiduals | None,
        cond_or_uncond: tuple[int, ...],
        middle: tuple[MiddlePatch, ...] = (),
    ) -> Tensor:
        x_in = model_sampling.calculate_input(sigma, x)
        if concat is not None:
            x_in = torch.cat([x_in, concat.to(x_in)], dim=1)  # (B, C + k, h, w)
        if dtype is not None:
            x_in = x_in.to(dtype)
        timesteps = model_sampling.timestep(sigma).float()
        kwargs: dict[str, Any] = {}
        if y is not None:
            kwargs["y"] = y.to(x_in) if y.is_floating_point() else y.to(x_in.device)
        if residuals is not None:
            kwargs["residuals"] = residuals
        if attention or inputs or middle:
            kwargs["attention"] = AttentionHooks(attention, cond_or_uncond, inputs, middle)
        output = unet_fn(x_in, timesteps, context.to(x_in), **kwargs)
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


def post_cfg(
    result: Tensor,
    cond_pred: Tensor,
    uncond_pred: Tensor,
    cond_scale: float,
    x: Tensor,
    sigma: Tensor,
    functions: Sequence[PostCFGFunction] = (),
    uncond_tap: UncondTap | None = None,
) -> Tensor:
    """The post-CFG functions in order on a guided ``result``; ``uncond_tap`` (a CFG++ sampler's)
    records the unconditional prediction they see."""
    if uncond_tap is not None:
        uncond_tap.record(uncond_pred)
    for fn in functions:
        result = fn(PostCFGArgs(result, cond_pred, uncond_pred, cond_scale, sigma, x))
    return result


def cfg_function(
    cond_pred: Tensor,
    uncond_pred: Tensor,
    cond_scale: float,
    x: Tensor,
    sigma: Tensor,
    post_cfg_functions: Sequence[PostCFGFunction] = (),
    uncond_tap: UncondTap | None = None,
) -> Tensor:
    """``uncond + (cond - uncond) * cond_scale``, then each post-CFG function in order."""
    result = uncond_pred + (cond_pred - uncond_pred) * cond_scale
    return post_cfg(result, cond_pred, uncond_pred, cond_scale, x, sigma, post_cfg_functions,
                    uncond_tap)


def guided_denoiser(
    unet_fn: UNetFn,
    model_sampling: ModelSampling,
    positive: Sequence[Cond],
    negative: Sequence[Cond],
    cfg: float,
    *,
    latent_shape: Sequence[int],
    adm: AdmKind = "none",
    inpaint_concat: bool = False,
    latent_image: Tensor | None = None,
    denoise_mask: Tensor | None = None,
    process_in: Callable[[Tensor], Tensor] | None = None,
    hooks: ModelHooks = NO_HOOKS,
    max_batch_area: int | None = None,
    dtype: torch.dtype | None = None,
    uncond_tap: UncondTap | None = None,
    unet_for: UNetProvider | None = None,
    x4_upscale: bool = False,
    noise_seed: int | None = None,
) -> Denoiser:
    """The ``model(x, sigma) -> x0`` the samplers call, guiding ``unet_fn`` with both sides.

    latent_shape: (B, C, H, W) of the sampled latent (areas and masks resolve against it).
    inpaint_concat: a 9-channel inpainting UNet; it needs ``latent_image`` (model space) and uses
    ``denoise_mask`` (prepared, (B, C, H, W)) for its [mask, masked image] input.
    hooks: the model's post-CFG functions, per-step conditioning modifiers and attention
    processors, in order.
    max_batch_area: the most rows x h x w per forward (None: cond and uncond always share one).
    dtype: the network's compute dtype (its inputs are cast to it; x0 is always float32).
    uncond_tap: records each call's unconditional prediction (CFG++ samplers); with a tap the
    negative side is evaluated even at cfg 1, as ComfyUI's ``disable_cfg1_optimization``.
    unet_for: the network patched by an entry's weight hooks (None: entries with weight hooks
    are refused); entries without hooks always use ``unet_fn``.
    x4_upscale: the SD x4 upscaler (low-res image concat, noise level label); ``noise_seed`` is
    the run's seed its noise augmentation derives from.
    """
    inputs = SideInputs(latent_shape, adm, inpaint_concat, latent_image, denoise_mask,
                        process_in, max_batch_area, dtype, x4_upscale, noise_seed)
    apply = make_apply_model(unet_fn, model_sampling, dtype, hooks)
    apply_for = hooked_apply_models(unet_for, model_sampling, dtype, hooks)
    evaluate = side_evaluator(apply, model_sampling,
                              ((positive, "positive"), (negative, "negative")), inputs, hooks,
                              apply_for=apply_for)
    skip = (1,) if math.isclose(cfg, 1.0) and uncond_tap is None else ()
    if skip:
        logger.debug("cfg=%s: the negative side is not evaluated", cfg)

    def denoise(x: Tensor, sigma: Tensor, **_extra: Any) -> Tensor:
        cond_pred, uncond_pred = evaluate(x, sigma, skip)
        for fn in hooks.pre_cfg:  # ComfyUI's sampler_pre_cfg_function: plain CFG only
            cond_pred, uncond_pred = fn(PreCFGArgs(cond_pred, uncond_pred, cfg, sigma, x))
        return cfg_function(cond_pred, uncond_pred, cfg, x, sigma, hooks.post_cfg, uncond_tap)

    return denoise
