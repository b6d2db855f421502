"""One sampling run: ``sample(guider, sampler, sigmas, noise, latent)`` (ComfyUI's
``sample_custom``; KSampler and KSamplerAdvanced are recipes that build the four parts).

``sample`` takes raw VAE latents (what a LATENT holds), scales them into the model's space with
the family's latent format, draws the initial noise, lets the guider build the denoiser (with
the noise-mask inpaint wrapper when a mask is given), runs the sampler over ``sigmas`` and
scales the result back to raw latents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.guided_model import GuidedModel
from diffusion.guidance.guider import Guider, UncondGuider
from diffusion.guidance.inpaint import noise_mask_inpaint
from diffusion.guidance.shapes import reshape_mask
from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import SEED_MAX, Noise, seeded_generator
from diffusion.sampling.registry import SamplerSpec
from diffusion.sampling.uncond import UncondTap

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, Tensor], None]
"""``callback(step, total, x0_preview)`` after each step's first model call: ``step`` is 0-based,
``x0_preview`` the model-space denoised prediction (B, C, H, W). Raising cancels sampling."""


def _initial_noise(noise: Noise, latent: Tensor, batch_index: Sequence[int] | None) -> Tensor:
    drawn = noise.generate(latent, batch_index)
    if drawn.shape != latent.shape:
        raise ValueError(f"noise shape {tuple(drawn.shape)} != latent shape {tuple(latent.shape)}")
    return drawn.to(latent.device, torch.float32)


def _progress(callback: ProgressCallback | None, total: int) -> Callable[[dict[str, Any]], None]:
    def report(info: dict[str, Any]) -> None:
        if callback is not None:
            callback(int(info["i"]), total, info["denoised"])

    return report


def _inpaint_noise(noise: Tensor, seed: int, fresh: bool) -> Tensor:
    """ComfyUI's ``ddim`` re-draws the inpaint noise from seed + 1; others reuse the noise."""
    if not fresh:
        return noise
    generator = seeded_generator((seed + 1) % (SEED_MAX + 1))
    return torch.randn(noise.shape, generator=generator).to(noise)


def _to_model_space(model: GuidedModel, latent: Tensor) -> Tensor:
    """``process_latent_in``, except for an all-zero latent (ComfyUI leaves it unshifted)."""
    if torch.count_nonzero(latent) == 0:
        return latent
    return model.latent_format.process_in(latent)


def _guided(guider: Guider, sampler: SamplerSpec, latent: Tensor, mask: Tensor | None,
            tap: UncondTap | None) -> Denoiser:
    """The guider's denoiser; for a CFG++ sampler one that records into ``tap``."""
    if tap is None:
        return guider.denoiser(latent, mask)
    if not isinstance(guider, UncondGuider):
        raise ValueError(
            f"sampler {sampler.name!r} (CFG++) needs the unconditional prediction, which guider "
            f"{type(guider).__name__} cannot provide (it has no tapped_denoiser); use a guider "
            "with a negative side such as CFGGuider, or a sampler without _cfg_pp"
        )
    return guider.tapped_denoiser(latent, mask, tap)


def _check(latent: Tensor, sigmas: Tensor) -> None:
    if latent.ndim != 4:
        raise ValueError(f"latent must be (B, C, H, W), got shape {tuple(latent.shape)}")
    if sigmas.ndim != 1:
        raise ValueError(f"sigmas must be 1-d, got shape {tuple(sigmas.shape)}")


def sample(
    guider: Guider,
    sampler: SamplerSpec,
    sigmas: Tensor,
    noise: Noise,
    latent: Tensor,
    *,
    mask: Tensor | None = None,
    batch_index: Sequence[int] | None = None,
    callback: ProgressCallback | None = None,
) -> Tensor:
    """Samples ``latent`` (raw VAE latents (B, C, H, W)); returns raw latents of the same shape.

    ``noise`` draws the initial noise (``batch_index``: each sample's position in the original
    batch) and its seed seeds the sampler's per-step noise. ``mask``: (H, W) / (B, H, W) at any
    size, 1 = regenerate; the kept region comes back bit-equal to the input, unless the model
    has a denoise-mask hook (Differential Diffusion), which decides each step what is kept.
    Empty ``sigmas`` (an empty step window) return ``latent`` itself.
    """
    _check(latent, sigmas)
    if sigmas.numel() == 0:
        logger.info("empty step window: the latent is returned unchanged")
        return latent
    model, ms = guider.model, guider.model.model_sampling
    sigmas = sigmas.to(latent.device)
    raw = latent.float()
    start_noise = _initial_noise(noise, latent, batch_index)
    prepared = None if mask is None else reshape_mask(mask, raw.shape).to(raw)
    with torch.no_grad():
        latent_in = _to_model_space(model, raw)
        tap = UncondTap() if sampler.needs_uncond else None
        denoiser = _guided(guider, sampler, latent_in, prepared, tap)
        mask_function = model.hooks.denoise_mask
        if prepared is not None:
            inpaint_noise = _inpaint_noise(start_noise, noise.seed, sampler.inpaint_fresh_noise)
            denoiser = noise_mask_inpaint(denoiser, ms, latent_in, inpaint_noise, prepared,
                                          mask_function, sigmas)
        x = ms.noise_scaling(sigmas[0], start_noise, latent_in, ms.is_max_denoise(sigmas))
        samples = sampler.run(denoiser, x, sigmas, seed=noise.seed,
                              callback=_progress(callback, len(sigmas) - 1), uncond=tap,
                              model_sampling=ms)
        samples = ms.inverse_noise_scaling(sigmas[-1], samples)
        out = model.latent_format.process_out(samples.float())
    if prepared is not None and mask_function is None:
        # exact where nothing is regenerated (ComfyUI: equal up to rounding); a model's mask
        # function may regenerate there too, so its result stands as the sampler left it
        out = torch.where(prepared == 0, raw, out)
    return out
