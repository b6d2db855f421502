"""ComfyUI's ``comfy.sample`` for node packs: ``sample`` (KSampler's run on a MODEL a pack
received), ``prepare_noise`` and ``fix_empty_latent_channels``; ``ksampler_latent`` is
``nodes.common_ksampler``.

Sampling goes through the engine: the sampler and schedule by name from the registry's table,
the MODEL's weight patches and hooks (including those the pack added through its
``ModelPatcher``), the UNet made resident by the job's model port, progress and cancellation on
every step (a pack's ``callback`` is called too, ComfyUI's way: ``(step, x0, x, total)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance import CFGGuider, GuidedModel
from diffusion.guidance import sample as run_sampler
from diffusion.sampling import advanced_sigmas, ksampler_sigmas
from diffusion.sampling import prepare_noise as _prepare_noise
from nodes.payloads import DiffusionModel
from nodes.plugins.adapter.payloads import conditioning_from_comfy, from_comfy
from nodes.plugins.compat.comfy.model_patcher import ModelPatcher
from nodes.plugins.runtime import current_context


class GivenNoise:
    """The noise a pack drew itself (``prepare_noise``), with the seed of the step noise."""

    def __init__(self, noise: Tensor, seed: int) -> None:
        self.noise, self.seed = noise, seed

    def generate(self, latent: Tensor, batch_index: Sequence[int] | None = None) -> Tensor:
        return self.noise


def prepare_noise(latent_image: Tensor, seed: int, noise_inds: Any = None) -> Tensor:
    """ComfyUI's seeded initial noise for a latent batch (``noise_inds``: batch positions)."""
    index = None if noise_inds is None else [int(i) for i in noise_inds]
    return _prepare_noise(latent_image, seed, index)


def fix_empty_latent_channels(model: Any, latent_image: Tensor) -> Tensor:
    payload = _model(model)
    channels = payload.latent_format.channels
    if latent_image.shape[1] != channels and torch.count_nonzero(latent_image) == 0:
        shape = (latent_image.shape[0], channels, *latent_image.shape[2:])
        return torch.zeros(shape, dtype=latent_image.dtype, device=latent_image.device)
    return latent_image


def _model(model: Any) -> DiffusionModel:
    if isinstance(model, ModelPatcher):
        payload, _ = model.to_payload()
        return payload
    if isinstance(model, DiffusionModel):
        return model
    raise TypeError(f"expected a MODEL, got {type(model).__name__}")


def _reporter(ctx: Any, callback: Callable[..., Any] | None) -> Callable[[int, int, Tensor], None]:
    def report(step: int, total: int, x0: Tensor) -> None:
        if callback is not None:
            callback(step, x0, x0, total)
        ctx.progress(step + 1, total)

    return report


def sample(model: Any, noise: Tensor, steps: int, cfg: float, sampler_name: str,
           scheduler: str, positive: Any, negative: Any, latent_image: Tensor,
           denoise: float = 1.0, disable_noise: bool = False, start_step: int | None = None,
           last_step: int | None = None, force_full_denoise: bool = False,
           noise_mask: Tensor | None = None, sigmas: Tensor | None = None,
           callback: Callable[..., Any] | None = None, disable_pbar: bool = False,
           seed: int | None = None) -> Tensor:
    """KSampler's sampling of raw latents (B, C, h, w); returns raw latents on the CPU."""
    ctx = current_context("comfy.sample.sample")
    payload = _model(model)
    sampler = ctx.sampling.sampler(sampler_name)
    if sigmas is None:
        sigmas = ksampler_sigmas(payload.model_sampling, sampler, ctx.sampling.scheduler(
            scheduler), steps, denoise)
    sigmas = advanced_sigmas(sigmas, start_step, last_step, force_full_denoise)
    pos = conditioning_from_comfy(positive, "comfy.sample.sample positive")
    neg = conditioning_from_comfy(negative, "comfy.sample.sample negative")
    drawn = torch.zeros_like(latent_image) if disable_noise else noise
    with ctx.models.use(payload.unet, payload.patches) as unet:
        guided = GuidedModel.from_unet(unet, payload.model_sampling, payload.latent_format,
                                       adm=payload.adm, hooks=payload.hooks)
        out = run_sampler(CFGGuider(guided, pos, neg, cfg), sampler, sigmas,
                          GivenNoise(drawn.cpu(), seed or 0), latent_image.to(ctx.models.device),
                          mask=noise_mask, callback=_reporter(ctx, callback))
    return out.cpu()


def ksampler_latent(model: Any, seed: int, steps: int, cfg: float, sampler_name: str,
                    scheduler: str, positive: Any, negative: Any, latent: dict[str, Any],
                    denoise: float = 1.0, disable_noise: bool = False,
                    start_step: int | None = None, last_step: int | None = None,
                    force_full_denoise: bool = False) -> dict[str, Any]:
    """``nodes.common_ksampler``'s work: the LATENT dict sampled (a new dict)."""
    parsed = from_comfy(latent, "LATENT", "common_ksampler latent")
    samples = fix_empty_latent_channels(model, parsed.samples)
    noise = torch.zeros_like(samples) if disable_noise else prepare_noise(
        samples, seed, parsed.batch_index)
    out = sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, samples,
                 denoise, disable_noise, start_step, last_step, force_full_denoise,
                 parsed.noise_mask, seed=seed)
    result = dict(latent)
    result["samples"] = out
    return result
