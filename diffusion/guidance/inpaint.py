"""Inpainting: the noise-mask wrapper (ComfyUI's ``KSamplerX0Inpaint``, with the model's
denoise-mask function), the 9-channel inpainting models' concat input (``BaseModel.concat_cond``
with keys ``mask``, ``masked_image``) and the 8-channel InstructPix2Pix models' (``IP2P``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.mask_hooks import DenoiseMaskFunction, MaskStep
from diffusion.guidance.shapes import resize_to_batch_size, upscale_center
from diffusion.sampling.model_sampling import Denoiser, ModelSampling

BLANK_INPAINT_LATENT = (0.8223, -0.6876, 0.6364, 0.1380)
"""ComfyUI's latent of an all-zero image, the masked image an inpaint model sees without mask."""


def _blank_inpaint_image_like(noise: Tensor) -> Tensor:
    blank = torch.ones_like(noise)  # (B, 4, H, W)
    for channel, value in enumerate(BLANK_INPAINT_LATENT):
        blank[:, channel] *= value
    return blank


def _fit(tensor: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Resized (center crop + bilinear) to the latent grid when needed, then to its batch."""
    if tuple(tensor.shape[2:]) != tuple(shape[2:]):
        tensor = upscale_center(tensor, shape[2], shape[3])  # (b, k, H, W)
    return resize_to_batch_size(tensor, shape[0])  # (B, k, H, W)


def inpaint_concat(
    noise_shape: tuple[int, ...],
    latent_image: Tensor,
    denoise_mask: Tensor | None,
    *,
    concat_latent_image: Tensor | None = None,
    concat_mask: Tensor | None = None,
    process_in: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """The (B, 5, H, W) extra input of a 9-channel inpainting UNet: [mask, masked-image latent].

    ``latent_image``: the sampled latent in model space; ``denoise_mask``: the prepared noise mask
    (B, C, H, W) or None. A per-cond ``concat_latent_image`` (raw VAE latent, scaled with
    ``process_in``) and ``concat_mask`` take precedence, as in ComfyUI. The mask is rounded to
    0/1. Without any mask: a mask of ones and ComfyUI's blank-image latent.
    """
    mask = concat_mask if concat_mask is not None else denoise_mask
    if mask is None:
        full = torch.ones(noise_shape, device=latent_image.device)  # (B, C, H, W)
        return torch.cat([full[:, :1], _blank_inpaint_image_like(full)], dim=1)  # (B, 5, H, W)
    if concat_latent_image is not None:
        if process_in is None:
            raise ValueError("concat_latent_image is set but process_in is None")
        image = process_in(concat_latent_image)
    else:
        image = latent_image
    if tuple(image.shape[1:]) != tuple(noise_shape[1:]):
        image = upscale_center(image, noise_shape[2], noise_shape[3])  # (b, 4, H, W)
    image = resize_to_batch_size(image, noise_shape[0])  # (B, 4, H, W)
    if mask.ndim == len(noise_shape):
        mask = mask[:, :1]  # (b, 1, h, w)
    mask = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float()  # (b, 1, h, w)
    mask = _fit(mask, noise_shape).round()  # (B, 1, H, W)
    return torch.cat([mask.to(image), image], dim=1)  # (B, 5, H, W)


def ip2p_concat(noise_shape: tuple[int, ...], image: Tensor | None) -> Tensor:
    """The (B, 4, H, W) extra input of an 8-channel InstructPix2Pix UNet: the entry's
    ``concat_latent_image`` (a raw VAE latent, as ComfyUI passes it) resized (center crop +
    bilinear) to the latent and to its batch; zeros without one."""
    if image is None:
        return torch.zeros(noise_shape)
    if tuple(image.shape[1:]) != tuple(noise_shape[1:]):
        image = upscale_center(image, noise_shape[2], noise_shape[3])  # (b, 4, H, W)
    return resize_to_batch_size(image, noise_shape[0])  # (B, 4, H, W)


def noise_mask_inpaint(
    denoiser: Denoiser,
    model_sampling: ModelSampling,
    latent_image: Tensor,
    noise: Tensor,
    denoise_mask: Tensor,
    mask_function: DenoiseMaskFunction | None = None,
    sigmas: Tensor | None = None,
) -> Denoiser:
    """ComfyUI's ``KSamplerX0Inpaint``: before every model call the kept region (mask 0) of x is
    replaced by the input latent noised to the current sigma, ``latent + noise * sigma``, and the
    denoised output there is the input latent itself.

    latent_image: model-space latent (B, C, H, W); noise: the unscaled initial noise;
    denoise_mask: (B, C, H, W), 1 = regenerate, 0 = keep. ``mask_function`` (a model's
    denoise-mask hook, e.g. Differential Diffusion) gives the mask used at each call from the
    call's sigma and the run's schedule ``sigmas``.
    """
    if mask_function is not None and sigmas is None:
        raise ValueError("noise_mask_inpaint: a mask_function needs the run's sigmas")

    def denoise(x: Tensor, sigma: Tensor, **extra: Any) -> Tensor:
        mask = denoise_mask
        if mask_function is not None:
            assert sigmas is not None
            mask = mask_function(MaskStep(sigma, denoise_mask, sigmas, model_sampling))
        keep = 1.0 - mask
        noised = model_sampling.noise_scaling(sigma, noise, latent_image)
        x = x * mask + noised * keep
        out = denoiser(x, sigma, **extra)
        return out * mask + latent_image * keep

    return denoise
