"""Classifier-free guidance as a denoiser for the samplers (ComfyUI's ``sampling_function``).

``guided_denoiser`` resolves both CONDITIONING sides once, then per call lets the model's
conditioning modifiers change the step's entries, evaluates every active entry
(``calc_cond_batch``), skips the negative side when cfg == 1 (unless a hook or a CFG++ sampler
needs it), runs the pre-CFG functions, combines ``uncond + (cond - uncond) * cfg`` (or the
model's CFG function) and runs the post-CFG functions, which may call the model again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.adm import AdmKind
from diffusion.guidance.apply_model import (
    ModelApplier,
    UNetFn,
    UNetProvider,
    hooked_apply_models,
    make_apply_model,
)
from diffusion.guidance.cond import Cond
from diffusion.guidance.hooks import (
    NO_HOOKS,
    CFGArgs,
    CFGFunction,
    ModelAccess,
    ModelHooks,
    PostCFGArgs,
    PostCFGFunction,
    PreCFGArgs,
)
from diffusion.guidance.model_calls import ModelCalls
from diffusion.guidance.sides import SideInputs, side_evaluator
from diffusion.guidance.unclip import AdmNoise
from diffusion.sampling.model_sampling import Denoiser, ModelSampling
from diffusion.sampling.uncond import UncondTap

logger = logging.getLogger(__name__)

__all__ = ["UNetFn", "UNetProvider", "cfg_function", "guided_denoiser", "hooked_apply_models",
           "make_apply_model", "post_cfg"]


def post_cfg(
    result: Tensor,
    cond_pred: Tensor,
    uncond_pred: Tensor,
    cond_scale: float,
    x: Tensor,
    sigma: Tensor,
    functions: Sequence[PostCFGFunction] = (),
    uncond_tap: UncondTap | None = None,
    *,
    model: ModelAccess | None = None,
) -> Tensor:
    """The post-CFG functions in order on a guided ``result``; ``uncond_tap`` (a CFG++ sampler's)
    records the unconditional prediction they see; ``model`` is what they may call again."""
    if uncond_tap is not None:
        uncond_tap.record(uncond_pred)
    for fn in functions:
        result = fn(PostCFGArgs(result, cond_pred, uncond_pred, cond_scale, sigma, x, model))
    return result


def cfg_function(
    cond_pred: Tensor,
    uncond_pred: Tensor,
    cond_scale: float,
    x: Tensor,
    sigma: Tensor,
    post_cfg_functions: Sequence[PostCFGFunction] = (),
    uncond_tap: UncondTap | None = None,
    *,
    custom: CFGFunction | None = None,
    model: ModelAccess | None = None,
) -> Tensor:
    """``uncond + (cond - uncond) * cond_scale`` (or ``custom``, the model's CFG function), then
    each post-CFG function in order; ``model`` is what those functions may call again."""
    if custom is None:
        result = uncond_pred + (cond_pred - uncond_pred) * cond_scale
    else:
        result = custom(CFGArgs(cond_pred, uncond_pred, cond_scale, sigma, x, model))
    return post_cfg(result, cond_pred, uncond_pred, cond_scale, x, sigma, post_cfg_functions,
                    uncond_tap, model=model)


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
    ip2p_concat: bool = False,
    adm_noise: AdmNoise | None = None,
) -> Denoiser:
    """The ``model(x, sigma) -> x0`` the samplers call, guiding ``unet_fn`` with both sides.

    latent_shape: (B, C, H, W) of the sampled latent (areas and masks resolve against it).
    inpaint_concat: a 9-channel inpainting UNet; it needs ``latent_image`` (model space) and uses
    ``denoise_mask`` (prepared, (B, C, H, W)) for its [mask, masked image] input.
    ip2p_concat: an 8-channel InstructPix2Pix UNet (its extra input: each entry's image latent).
    hooks: the model's hooks (``diffusion.guidance.hooks``); those with per-run state are bound
    for this run here.
    max_batch_area: the most rows x h x w per forward (None: cond and uncond always share one).
    dtype: the network's compute dtype (its inputs are cast to it; x0 is always float32).
    uncond_tap: records each call's unconditional prediction (CFG++ samplers); with a tap (or
    ``hooks.needs_uncond``) the negative side is evaluated even at cfg 1, as ComfyUI's
    ``disable_cfg1_optimization``.
    unet_for: the network patched by an entry's weight hooks (None: entries with weight hooks
    are refused); entries without hooks always use ``unet_fn``.
    adm_noise: unCLIP noise augmentation and the run's seed (entries with unCLIP conditioning).
    """
    hooks = hooks.for_run()
    inputs = SideInputs(latent_shape, adm, inpaint_concat, latent_image, denoise_mask,
                        process_in, max_batch_area, dtype, ip2p_concat, adm_noise)
    applier = ModelApplier(unet_fn, model_sampling, dtype, unet_for)
    evaluate = side_evaluator(applier, ((positive, "positive"), (negative, "negative")), inputs,
                              hooks)
    skip_uncond = math.isclose(cfg, 1.0) and uncond_tap is None and not hooks.needs_uncond
    if skip_uncond:
        logger.debug("cfg=%s: the negative side is not evaluated", cfg)
    skip = (1,) if skip_uncond else ()
    calls = ModelCalls(evaluate, 0, None if skip_uncond else 1)

    def denoise(x: Tensor, sigma: Tensor, **_extra: Any) -> Tensor:
        cond_pred, uncond_pred = evaluate(x, sigma, skip)
        for fn in hooks.pre_cfg:  # ComfyUI's sampler_pre_cfg_function: plain CFG only
            cond_pred, uncond_pred = fn(PreCFGArgs(cond_pred, uncond_pred, cfg, sigma, x,
                                                   skip_uncond))
        return cfg_function(cond_pred, uncond_pred, cfg, x, sigma, hooks.post_cfg, uncond_tap,
                            custom=hooks.cfg, model=calls)

    return denoise
