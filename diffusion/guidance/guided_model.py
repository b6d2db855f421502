"""A diffusion model as the sampler needs it: the resident network and how to talk to it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from diffusion.guidance.adm import AdmKind
from diffusion.guidance.denoiser import UNetFn, UNetProvider
from diffusion.guidance.hooks import NO_HOOKS, ModelHooks
from diffusion.guidance.unclip import AdmNoise
from diffusion.latent_format import LatentFormat
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.unet.config import SDXL_ADM_CHANNELS, SDXL_REFINER_ADM_CHANNELS
from diffusion.unet.model import UNetModel
from diffusion.weight_cast import compute_dtype_of

INPAINT_EXTRA_CHANNELS = 5  # mask + masked-image latent
IP2P_EXTRA_CHANNELS = 4  # InstructPix2Pix: the source image's latent
X4_EXTRA_CHANNELS = 3  # the x4 upscaler's low-res RGB image


@dataclass(frozen=True, eq=False)
class GuidedModel:
    """The network, its noise schedule and latent scale, its ADM kind, whether it is a 9-channel
    inpainting model, its compute dtype (None: inputs as they are), its hooks, and whether it is
    an 8-channel InstructPix2Pix model.

    ``unet_for(active)`` gives the network patched by a conditioning entry's weight hooks at
    their current strengths (``diffusion.guidance.hooked``); None refuses hooked entries (a
    run that has some must say which weights they mean). ``unet`` serves every other entry.
    ``adm_noise``: the unCLIP noise augmentation and the run's seed, for entries with unCLIP
    conditioning (SD2.1 unCLIP always needs it; None refuses such entries).

    ``x4_upscale``: the 7-channel SD x4 upscaler, whose extra inputs come from each entry's
    ``concat_image`` / ``noise_augmentation`` (``diffusion.guidance.x4_upscale``);
    ``noise_seed``: the run's noise seed, which its noise augmentation derives from (ComfyUI
    hands the sampler's seed to ``extra_conds``). None refuses entries that ask for noise."""

    unet: UNetFn
    model_sampling: ModelSampling
    latent_format: LatentFormat
    adm: AdmKind = "none"
    inpaint_concat: bool = False
    dtype: torch.dtype | None = None
    hooks: ModelHooks = NO_HOOKS
    unet_for: UNetProvider | None = None
    ip2p_concat: bool = False
    adm_noise: AdmNoise | None = None
    x4_upscale: bool = False
    noise_seed: int | None = None

    @classmethod
    def from_unet(
        cls,
        unet: UNetModel,
        model_sampling: ModelSampling,
        latent_format: LatentFormat,
        adm: AdmKind | None = None,
        hooks: ModelHooks = NO_HOOKS,
        unet_for: UNetProvider | None = None,
        adm_noise: AdmNoise | None = None,
        noise_seed: int | None = None,
    ) -> GuidedModel:
        """ADM kind, concat input (5 extra channels: inpainting, 4: InstructPix2Pix, 3 with
        class labels: the x4 upscaler) and compute dtype read from the module (full-size ADM
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
        x4 = extra == X4_EXTRA_CHANNELS and cfg.num_classes is not None
        if extra not in (0, INPAINT_EXTRA_CHANNELS, IP2P_EXTRA_CHANNELS) and not x4:
            raise ValueError(
                f"in_channels={cfg.in_channels} with out_channels={cfg.out_channels}: "
                f"expected equal, {INPAINT_EXTRA_CHANNELS} more (inpainting), "
                f"{IP2P_EXTRA_CHANNELS} more (InstructPix2Pix) or {X4_EXTRA_CHANNELS} more with "
                "class labels (the x4 upscaler)"
            )
        dtype = compute_dtype_of(unet)  # fp32 for half weights upcast per layer
        return cls(unet, model_sampling, latent_format, adm, extra == INPAINT_EXTRA_CHANNELS,
                   dtype, hooks, unet_for, ip2p_concat=extra == IP2P_EXTRA_CHANNELS,
                   adm_noise=adm_noise, x4_upscale=x4, noise_seed=noise_seed)
