"""LCM with upscaling between steps (ComfyUI's ``SamplerLCMUpscale``): after each of the first
``upscale_steps`` steps the x0 prediction is resized, so a latent grows by ``total_upscale`` over
the run, then re-noised to the next sigma as LCM does.

The resize is given by the caller (``resize(x, width, height)``, e.g. bislerp), so this module
stays free of image code. The re-noising noise has the size of the grown latent: it is drawn from
the run's noise sampler as consecutive unit-variance draws of the original size, flattened and
cut to the new size (ComfyUI draws it from torch's global RNG, which this engine never uses, so
the noise differs from ComfyUI's for the same seed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, report, require_noise

Resize = Callable[[Tensor, int, int], Tensor]
"""``resize(x, width, height)``: (B, C, H, W) -> (B, C, height, width)."""


def noise_of_shape(noise_sampler: NoiseSampler, sigma: Tensor, sigma_next: Tensor,
                   shape: torch.Size) -> Tensor:
    """Unit-variance noise of ``shape`` from draws of the sampler's own shape."""
    first = noise_sampler(sigma, sigma_next)
    if first.shape == shape:
        return first
    needed = math.prod(shape)
    draws = [first.reshape(-1)]
    while sum(d.numel() for d in draws) < needed:
        draws.append(noise_sampler(sigma, sigma_next).reshape(-1))
    return torch.cat(draws)[:needed].reshape(shape)


def upscale_sizes(n_sigmas: int, total_upscale: float, upscale_steps: int | None) -> list[float]:
    """The scale after each of the first upscaling steps (ComfyUI's linspace, first dropped)."""
    if upscale_steps is None:
        count = max(n_sigmas // 2 + 1, 2)
    else:
        count = min(upscale_steps + 1, n_sigmas + 1)
    return [float(v) for v in np.linspace(1.0, total_upscale, count)[1:]]


def sample_lcm_upscale(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    resize: Resize | None = None,
    total_upscale: float = 2.0,
    upscale_steps: int | None = None,
) -> Tensor:
    """LCM steps, resizing x0 by the next scale of ``upscale_sizes`` after each early step."""
    noise_sampler = require_noise(noise_sampler, "lcm_upscale")
    if resize is None:
        raise ValueError("lcm_upscale needs resize(x, width, height) to grow the latent")
    extra_args = extra_args or {}
    scales = upscale_sizes(len(sigmas), total_upscale, upscale_steps)
    height, width = x.shape[-2], x.shape[-1]
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        x = denoised
        if i < len(scales):
            x = resize(x, round(width * scales[i]), round(height * scales[i]))
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise_of_shape(noise_sampler, sigmas[i], sigmas[i + 1],
                                                   x.shape)
    return x
