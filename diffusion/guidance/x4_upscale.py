"""The SD x4 upscaler's model inputs per conditioning entry (ComfyUI's
``SD_X4Upscaler.extra_conds`` with LDM's ``ImageConcatWithNoiseAugmentation``).

The UNet's three extra input channels are the entry's low-resolution image (``concat_image``,
(b, 3, h, w) pixels in [-1, 1], as SD_4XUpscale_Conditioning stores it; zeros without one),
resized to the latent grid (center crop + bilinear) and cut or repeated to the latent batch. Its
class label ``y`` is the noise level ``round(350 * noise_augmentation)``; with augmentation the
image is first noised to that level of its own schedule (linear betas 0.0001 .. 0.02,
1000 steps, float64 then float32 as LDM registers its buffers): ``sqrt(a) * image +
sqrt(1 - a) * noise``, the noise drawn on the CPU from the run's seed minus 10 (ComfyUI's
``seed - 10``; a negative value wraps as ``torch.manual_seed`` does), the same for every entry.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from diffusion.guidance.cond import Cond
from diffusion.guidance.shapes import resize_to_batch_size, upscale_center
from diffusion.sampling.model_sampling import scaled_linear_betas
from diffusion.sampling.noise import SEED_MAX, seeded_generator

X4_MAX_NOISE_LEVEL = 350
X4_SEED_OFFSET = 10
X4_LINEAR_START, X4_LINEAR_END, X4_TIMESTEPS = 0.0001, 0.02, 1000


@lru_cache(maxsize=1)
def low_res_schedule() -> tuple[Tensor, Tensor]:
    """(sqrt(alphas_cumprod), sqrt(1 - alphas_cumprod)) of the low-res image's noise schedule,
    each (1000,) float32."""
    betas = scaled_linear_betas(X4_LINEAR_START, X4_LINEAR_END, X4_TIMESTEPS)  # float64
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return alphas_cumprod.sqrt().float(), (1.0 - alphas_cumprod).sqrt().float()


def noise_level(noise_augmentation: float) -> int:
    """The class label of an augmentation strength in [0, 1]."""
    if not 0.0 <= noise_augmentation <= 1.0:
        raise ValueError(f"noise_augmentation must be in [0, 1], got {noise_augmentation!r}")
    return round(X4_MAX_NOISE_LEVEL * noise_augmentation)


def augment(image: Tensor, level: int, seed: int) -> Tensor:
    """``image`` (b, 3, H, W) noised to ``level`` with noise from ``seed`` (CPU, float32)."""
    sqrt_a, sqrt_one_minus_a = low_res_schedule()
    generator = seeded_generator(seed % (SEED_MAX + 1))
    noise = torch.randn(image.shape, generator=generator, dtype=torch.float32)  # (b, 3, H, W)
    noise = noise.to(image.device)
    return sqrt_a[level].to(image.device) * image + sqrt_one_minus_a[level].to(image.device) * noise


def x4_upscale_inputs(
    cond: Cond,
    latent_shape: tuple[int, int, int, int],
    seed: int | None,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """(y: (1,) int64 noise level, concat: (B, 3, H, W) low-res image) of one entry for a run
    over a latent of ``latent_shape`` whose noise was drawn from ``seed`` (needed only when the
    entry asks for noise augmentation)."""
    batch, _, height, width = latent_shape
    level = noise_level(cond.noise_augmentation)
    image = cond.concat_image
    if image is None:
        image = torch.zeros((batch, 3, height, width))  # ComfyUI: zeros_like(noise)[:, :3]
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"concat_image must be (b, 3, h, w) pixels, got {tuple(image.shape)}")
    image = upscale_center(image.float().to(device), height, width)  # (b, 3, H, W)
    if cond.noise_augmentation > 0:
        if seed is None:
            raise ValueError(
                f"noise_augmentation={cond.noise_augmentation} draws noise from the run's seed, "
                "but the model was given none (GuidedModel.noise_seed)"
            )
        image = augment(image, level, seed - X4_SEED_OFFSET)
    y = torch.tensor([level], dtype=torch.int64, device=image.device)
    return y, resize_to_batch_size(image, batch)  # (1,), (B, 3, H, W)
