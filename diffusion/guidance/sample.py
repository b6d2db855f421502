"""ComfyUI's KSampler / KSamplerAdvanced / SamplerCustom run: LATENT in, LATENT out.

``sample`` takes raw VAE latents (what a LATENT holds), scales them into the model's space with
the family's latent format, draws ComfyUI's initial noise for the seed (``prepare_noise``, with
``batch_index``), builds the sigmas (KSampler's schedule with denoise, or given ones) and the
step window, guides the model with CFG (and the noise-mask inpaint wrapper), runs the named
sampler and scales the result back to raw latents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.adm import AdmKind
from diffusion.guidance.cond import Cond
from diffusion.guidance.denoiser import PostCFGFunction, UNetFn, guided_denoiser
from diffusion.guidance.inpaint import noise_mask_inpaint
from diffusion.guidance.shapes import reshape_mask
from diffusion.latent_format import LatentFormat
from diffusion.sampling.model_sampling import Denoiser, ModelSamplingDiscrete
from diffusion.sampling.noise import SEED_MAX, prepare_noise, seeded_generator
from diffusion.sampling.registry import (
    advanced_sigmas,
    get_sampler,
    ksampler_sigmas,
    make_noise_sampler,
)
from diffusion.unet.config import SDXL_ADM_CHANNELS, SDXL_REFINER_ADM_CHANNELS
from diffusion.unet.model import UNetModel

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, Tensor], None]
"""``callback(step, total, x0_preview)`` after each step's first model call: ``step`` is 0-based,
``x0_preview`` the model-space denoised prediction (B, C, H, W). Raising cancels sampling."""

INPAINT_EXTRA_CHANNELS = 5  # mask + masked-image latent


@dataclass(frozen=True, eq=False)
class GuidedModel:
    """A diffusion model as the sampler needs it: the network and how to talk to it."""

    unet: UNetFn
    model_sampling: ModelSamplingDiscrete
    latent_format: LatentFormat
    adm: AdmKind = "none"
    inpaint_concat: bool = False
    dtype: torch.dtype | None = None  # the network's compute dtype; None: inputs as they are

    @classmethod
    def from_unet(
        cls,
        unet: UNetModel,
        model_sampling: ModelSamplingDiscrete,
        latent_format: LatentFormat,
        adm: AdmKind | None = None,
    ) -> GuidedModel:
        """ADM kind, inpaint concat and compute dtype read from the module (full-size ADM
        widths are recognised; pass ``adm`` for other widths)."""
        cfg = unet.config
        if adm is None:
            known: dict[int | None, AdmKind] = {
                None: "none",
                SDXL_ADM_CHANNELS: "sdxl",
                SDXL_REFINER_ADM_CHANNELS: "sdxl_refiner",
            }
            if cfg.adm_in_channels not in known:
                raise ValueError(
                    f"adm_in_channels={cfg.adm_in_channels} is not a known SDXL width; pass adm"
                )
            adm = known[cfg.adm_in_channels]
        extra = cfg.in_channels - cfg.out_channels
        if extra not in (0, INPAINT_EXTRA_CHANNELS):
            raise ValueError(
                f"in_channels={cfg.in_channels} with out_channels={cfg.out_channels}: "
                f"expected equal or {INPAINT_EXTRA_CHANNELS} more (inpainting)"
            )
        dtype = next(unet.parameters()).dtype
        return cls(unet, model_sampling, latent_format, adm, extra == INPAINT_EXTRA_CHANNELS, dtype)


def _initial_noise(
    latent: Tensor,
    seed: int,
    add_noise: bool,
    noise: Tensor | None,
    batch_index: Sequence[int] | None,
) -> Tensor:
    if noise is not None:
        if noise.shape != latent.shape:
            raise ValueError(
                f"noise shape {tuple(noise.shape)} != latent shape {tuple(latent.shape)}"
            )
        return noise.to(latent.device, torch.float32)
    if not add_noise:
        return torch.zeros_like(latent, dtype=torch.float32)
    # drawn in the LATENT's own dtype, as ComfyUI's prepare_noise does, then float32
    return prepare_noise(latent, seed, batch_index).to(latent.device, torch.float32)


def _sigmas(
    model_sampling: ModelSamplingDiscrete,
    sampler_name: str,
    scheduler: str,
    steps: int,
    denoise: float,
    sigmas: Tensor | None,
    window: tuple[int | None, int | None, bool],
) -> Tensor:
    if sigmas is None:
        sigmas = ksampler_sigmas(model_sampling, sampler_name, scheduler, steps, denoise)
    elif sigmas.ndim != 1:
        raise ValueError(f"sigmas must be 1-d, got shape {tuple(sigmas.shape)}")
    start_step, last_step, force_full_denoise = window
    return advanced_sigmas(sigmas, start_step, last_step, force_full_denoise)


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


def _build_denoiser(
    model: GuidedModel,
    positive: Sequence[Cond],
    negative: Sequence[Cond],
    cfg: float,
    latent_in: Tensor,
    mask: Tensor | None,
    post_cfg: Sequence[PostCFGFunction],
    max_batch_area: int | None,
) -> Denoiser:
    return guided_denoiser(
        model.unet,
        model.model_sampling,
        positive,
        negative,
        cfg,
        latent_shape=latent_in.shape,
        adm=model.adm,
        inpaint_concat=model.inpaint_concat,
        latent_image=latent_in,
        denoise_mask=mask,
        process_in=model.latent_format.process_in,
        post_cfg=post_cfg,
        max_batch_area=max_batch_area,
        dtype=model.dtype,
    )


def sample(
    model: GuidedModel,
    latent: Tensor,
    positive: Sequence[Cond],
    negative: Sequence[Cond],
    *,
    seed: int,
    cfg: float,
    sampler_name: str,
    scheduler: str = "normal",
    steps: int = 20,
    denoise: float = 1.0,
    sigmas: Tensor | None = None,
    add_noise: bool = True,
    noise: Tensor | None = None,
    start_step: int | None = None,
    last_step: int | None = None,
    force_full_denoise: bool = False,
    noise_mask: Tensor | None = None,
    batch_index: Sequence[int] | None = None,
    callback: ProgressCallback | None = None,
    post_cfg: Sequence[PostCFGFunction] = (),
    max_batch_area: int | None = None,
) -> Tensor:
    """Samples ``latent`` (raw VAE latents (B, C, H, W)); returns raw latents of the same shape.

    KSampler: seed, steps, cfg, sampler_name, scheduler, denoise. KSamplerAdvanced: add_noise,
    start_step / last_step, force_full_denoise (= not return_with_leftover_noise). SamplerCustom:
    sigmas (then steps / scheduler / denoise are unused) and add_noise; ``noise`` overrides the
    seeded noise. noise_mask: (H, W) / (B, H, W) at any size, 1 = regenerate; the kept region
    comes back bit-equal to the input. An empty step window returns ``latent`` itself.
    """
    if latent.ndim != 4:
        raise ValueError(f"latent must be (B, C, H, W), got shape {tuple(latent.shape)}")
    spec = get_sampler(sampler_name)
    window = (start_step, last_step, force_full_denoise)
    ms = model.model_sampling
    schedule = _sigmas(ms, sampler_name, scheduler, steps, denoise, sigmas, window)
    if schedule.numel() == 0:
        logger.info("empty step window: the latent is returned unchanged")
        return latent
    schedule = schedule.to(latent.device)
    raw = latent.float()
    start_noise = _initial_noise(latent, seed, add_noise, noise, batch_index)
    mask = None if noise_mask is None else reshape_mask(noise_mask, raw.shape).to(raw)
    with torch.no_grad():
        latent_in = _to_model_space(model, raw)
        denoiser = _build_denoiser(
            model, positive, negative, cfg, latent_in, mask, post_cfg, max_batch_area
        )
        if mask is not None:
            inpaint_noise = _inpaint_noise(start_noise, seed, spec.inpaint_fresh_noise)
            denoiser = noise_mask_inpaint(denoiser, ms, latent_in, inpaint_noise, mask)
        x = ms.noise_scaling(schedule[0], start_noise, latent_in, ms.is_max_denoise(schedule))
        samples = spec.sample(
            denoiser,
            x,
            schedule,
            extra_args={},
            callback=_progress(callback, len(schedule) - 1),
            noise_sampler=make_noise_sampler(sampler_name, x, schedule, seed),
        )
        samples = ms.inverse_noise_scaling(schedule[-1], samples)
        out = model.latent_format.process_out(samples.float())
    if mask is not None:  # exact where nothing is regenerated (ComfyUI: equal up to rounding)
        out = torch.where(mask == 0, raw, out)
    return out
