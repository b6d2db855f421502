"""KSampler's recipe for tests that call the sampling core directly: the keyword arguments the
KSampler / KSamplerAdvanced / SamplerCustom nodes take, turned into the four parts of
``diffusion.guidance.sample`` (guider, sampler, sigmas, noise) the way those nodes build them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from diffusion.guidance import CFGGuider, Cond, GuidedModel, ProgressCallback, sample
from diffusion.sampling import SeededNoise, advanced_sigmas, get_sampler, ksampler_sigmas


@dataclass(frozen=True)
class GivenNoise:
    """A NOISE that returns a tensor it was given (SamplerCustom with a noise input)."""

    tensor: Tensor
    seed: int

    def generate(self, latent: Tensor, batch_index: Sequence[int] | None = None) -> Tensor:
        return self.tensor


def ksample(
    model: GuidedModel, latent: Tensor, positive: Sequence[Cond], negative: Sequence[Cond], *,
    seed: int, cfg: float, sampler_name: str, scheduler: str = "normal", steps: int = 20,
    denoise: float = 1.0, sigmas: Tensor | None = None, add_noise: bool = True,
    noise: Tensor | None = None, start_step: int | None = None, last_step: int | None = None,
    force_full_denoise: bool = False, noise_mask: Tensor | None = None,
    batch_index: Sequence[int] | None = None, callback: ProgressCallback | None = None,
) -> Tensor:
    sampler = get_sampler(sampler_name)
    if latent.ndim == 4 and sigmas is None:
        sigmas = ksampler_sigmas(model.model_sampling, sampler, scheduler, steps, denoise)
    if sigmas is not None and sigmas.ndim == 1:
        sigmas = advanced_sigmas(sigmas, start_step, last_step, force_full_denoise)
    drawn = GivenNoise(noise, seed) if noise is not None else SeededNoise(seed, add_noise)
    guider = CFGGuider(model, tuple(positive), tuple(negative), cfg)
    return sample(guider, sampler, sigmas if sigmas is not None else latent.new_zeros(0), drawn,
                  latent, mask=noise_mask, batch_index=batch_index, callback=callback)
