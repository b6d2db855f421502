"""Sampling core: schedules, discrete model sampling, samplers and ComfyUI-compatible noise.

Pure torch; knows nothing of graphs, nodes, JSON or HTTP.
"""

from __future__ import annotations

from diffusion.sampling.continuous_sampling import (
    ModelSamplingContinuousEDM,
    ModelSamplingContinuousV,
    ModelSamplingCosmosRFlow,
)
from diffusion.sampling.model_sampling import (
    Denoiser,
    ModelSampling,
    ModelSamplingDiscrete,
    ModelSamplingDiscreteDistilled,
    make_denoiser,
)
from diffusion.sampling.noise import (
    Noise,
    NoiseSampler,
    SeededNoise,
    brownian_tree_noise_sampler,
    gaussian_noise_sampler,
    prepare_noise,
    seeded_generator,
)
from diffusion.sampling.registry import (
    SAMPLER_NAMES,
    SAMPLERS,
    SamplerSpec,
    advanced_sigmas,
    get_sampler,
    ksampler_sigmas,
    make_noise_sampler,
)
from diffusion.sampling.sampler_steps import Sampler, StepCallback
from diffusion.sampling.schedules import SCHEDULER_NAMES, SCHEDULERS, ScheduleFn, calculate_sigmas
from diffusion.sampling.uncond import UncondTap

__all__ = [
    "SAMPLERS",
    "SAMPLER_NAMES",
    "SCHEDULERS",
    "SCHEDULER_NAMES",
    "Denoiser",
    "ModelSampling",
    "ModelSamplingContinuousEDM",
    "ModelSamplingContinuousV",
    "ModelSamplingCosmosRFlow",
    "ModelSamplingDiscrete",
    "ModelSamplingDiscreteDistilled",
    "Noise",
    "NoiseSampler",
    "Sampler",
    "SamplerSpec",
    "ScheduleFn",
    "SeededNoise",
    "StepCallback",
    "UncondTap",
    "advanced_sigmas",
    "brownian_tree_noise_sampler",
    "calculate_sigmas",
    "gaussian_noise_sampler",
    "get_sampler",
    "ksampler_sigmas",
    "make_denoiser",
    "make_noise_sampler",
    "prepare_noise",
    "seeded_generator",
]
