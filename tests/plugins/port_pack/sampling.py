"""The pack's own sampler (Euler, written here, not imported from the built-in table), a linear
scheduler, and a guider that samples the positive side alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance import Cond, GuidedModel, Guider, guided_denoiser
from diffusion.sampling import Denoiser, ModelSamplingDiscrete, SamplerSpec, StepCallback
from diffusion.sampling.noise import NoiseSampler
from nodes.payloads import DiffusionModel


def sample_pack_euler(model: Denoiser, x: Tensor, sigmas: Tensor, *,
                      extra_args: dict[str, Any] | None = None,
                      callback: StepCallback | None = None,
                      noise_sampler: NoiseSampler | None = None) -> Tensor:
    """Euler's method on the probability-flow ODE (the textbook loop)."""
    s_in = x.new_ones([x.shape[0]])  # (B,)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **(extra_args or {}))
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sigmas[i], "sigma_hat": sigmas[i],
                      "denoised": denoised})
        d = (x - denoised) / sigmas[i]
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x


def pack_euler(name: str) -> SamplerSpec:
    return SamplerSpec(name, sample_pack_euler)


def _linear(model_sampling: ModelSamplingDiscrete, steps: int) -> Tensor:
    top = float(model_sampling.sigma_max)
    return torch.cat([torch.linspace(top, top / steps, steps), torch.zeros(1)])  # (steps + 1,)


LINEAR_SCHEDULER = _linear


@dataclass(frozen=True, eq=False)
class PositiveOnly:
    """A diffusion-level guider: the model's prediction for ``positive`` alone."""

    model: GuidedModel
    positive: tuple[Cond, ...]

    def denoiser(self, latent: Tensor, mask: Tensor | None) -> Denoiser:
        model = self.model
        return guided_denoiser(
            model.unet, model.model_sampling, self.positive, (), 1.0,
            latent_shape=latent.shape, adm=model.adm, inpaint_concat=model.inpaint_concat,
            latent_image=latent, denoise_mask=mask, process_in=model.latent_format.process_in,
            hooks=model.hooks, dtype=model.dtype,
        )


@dataclass(frozen=True, eq=False)
class PositiveOnlyGuide:
    """The GUIDER payload of :class:`PositiveOnly` (``nodes.payloads.GuiderPayload``)."""

    model: DiffusionModel
    positive: tuple[Cond, ...]

    nbytes = 0

    def bind(self, model: GuidedModel) -> Guider:
        return PositiveOnly(model, self.positive)
