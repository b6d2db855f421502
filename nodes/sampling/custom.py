"""Custom sampling (ComfyUI's ``comfy_extras/nodes_custom_sampler.py``): SamplerCustom,
SamplerCustomAdvanced and the SAMPLER / NOISE / GUIDER nodes that feed them."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance import Cond
from diffusion.sampling import SamplerSpec, SeededNoise
from nodes.api import (
    GUIDER,
    LATENT,
    NOISE,
    SAMPLER,
    SIGMAS,
    Boolean,
    Combo,
    Link,
    Node,
    Output,
    RunContext,
    SamplerNames,
)
from nodes.payloads import DiffusionModel, GuiderPayload, Latent
from nodes.sampling.ksampler import cfg_input, conditioning_inputs, model_input, seed_input
from nodes.sampling.payloads import CfgGuide
from nodes.sampling.run import run_sampling

CUSTOM_CATEGORY = "sampling/custom_sampling"
_OUTPUTS = (
    Output(LATENT, name="output", tooltip="The sampled latent."),
    Output(LATENT, name="denoised_output",
           tooltip="The model's denoised prediction at the last step."),
)


def _check_sigmas(node: str, sigmas: Tensor) -> Tensor:
    if not isinstance(sigmas, Tensor) or sigmas.ndim != 1:
        shape = tuple(sigmas.shape) if isinstance(sigmas, Tensor) else type(sigmas).__name__
        raise ValueError(f"{node}: input 'sigmas' must be a 1-d tensor, got {shape}")
    return sigmas


def _sampler_input() -> Link:
    return Link("sampler", SAMPLER, tooltip="The sampling algorithm (KSamplerSelect).")


def _sigmas_input() -> Link:
    return Link("sigmas", SIGMAS, tooltip="The noise levels to step through (a scheduler node).")


def _latent_input() -> Link:
    return Link("latent_image", LATENT, tooltip="The latent image to denoise.")


class SamplerCustom(Node):
    """Samples with a separately chosen sampler and sigma schedule; also returns the model's
    last denoised prediction."""

    display_name = "SamplerCustom"
    category = CUSTOM_CATEGORY
    inputs = (
        model_input(),
        Boolean("add_noise", default=True, advanced=True,
                tooltip="Add the seeded noise first (off: the latent already carries noise)."),
        seed_input("noise_seed"),
        cfg_input(),
        *conditioning_inputs(),
        _sampler_input(),
        _sigmas_input(),
        _latent_input(),
    )
    outputs = _OUTPUTS

    def run(self, ctx: RunContext, model: DiffusionModel, add_noise: bool, noise_seed: int,
            cfg: float, positive: tuple[Cond, ...], negative: tuple[Cond, ...],
            sampler: SamplerSpec, sigmas: Tensor, latent_image: Latent) -> tuple[Any, ...]:
        guide = CfgGuide(model, tuple(positive), tuple(negative), cfg)
        return run_sampling(
            ctx, self.type_name, guide, sampler, _check_sigmas(self.type_name, sigmas),
            SeededNoise(noise_seed, enabled=add_noise), latent_image,
        )


class SamplerCustomAdvanced(Node):
    """Samples with separately chosen noise, guider, sampler and sigma schedule."""

    display_name = "SamplerCustomAdvanced"
    category = CUSTOM_CATEGORY
    inputs = (
        Link("noise", NOISE, tooltip="The initial noise (RandomNoise)."),
        Link("guider", GUIDER, tooltip="The model and its guidance (CFGGuider)."),
        _sampler_input(),
        _sigmas_input(),
        _latent_input(),
    )
    outputs = _OUTPUTS

    def run(self, ctx: RunContext, noise: SeededNoise, guider: GuiderPayload,
            sampler: SamplerSpec, sigmas: Tensor, latent_image: Latent) -> tuple[Any, ...]:
        return run_sampling(
            ctx, self.type_name, guider, sampler, _check_sigmas(self.type_name, sigmas), noise,
            latent_image,
        )


class KSamplerSelect(Node):
    """Picks a sampling algorithm by name for the custom samplers."""

    display_name = "KSamplerSelect"
    category = f"{CUSTOM_CATEGORY}/samplers"
    inputs = (Combo("sampler_name", choices=SamplerNames(), tooltip="The sampling algorithm."),)
    outputs = (Output(SAMPLER),)

    def run(self, ctx: RunContext, sampler_name: str) -> tuple[Any, ...]:
        return (ctx.sampling.sampler(sampler_name),)


class RandomNoise(Node):
    """ComfyUI's seeded initial noise for SamplerCustomAdvanced."""

    display_name = "RandomNoise"
    category = f"{CUSTOM_CATEGORY}/noise"
    inputs = (seed_input("noise_seed"),)
    outputs = (Output(NOISE),)

    def run(self, ctx: RunContext, noise_seed: int) -> tuple[Any, ...]:
        return (SeededNoise(noise_seed),)


class CFGGuider(Node):
    """Classifier-free guidance of a model between positive and negative conditioning."""

    display_name = "CFGGuider"
    category = f"{CUSTOM_CATEGORY}/guiders"
    inputs = (model_input(), *conditioning_inputs(), cfg_input())
    outputs = (Output(GUIDER),)

    def run(self, ctx: RunContext, model: DiffusionModel, positive: tuple[Cond, ...],
            negative: tuple[Cond, ...], cfg: float) -> tuple[Any, ...]:
        return (CfgGuide(model, tuple(positive), tuple(negative), cfg),)


class DisableNoise(Node):
    """No initial noise (the latent already carries it); per-step noise is seeded with 0."""

    display_name = "DisableNoise"
    category = f"{CUSTOM_CATEGORY}/noise"
    inputs = ()
    outputs = (Output(NOISE),)

    def run(self, ctx: RunContext) -> tuple[Any, ...]:
        return (SeededNoise(0, enabled=False),)


class AddNoise(Node):
    """Adds the noise to a latent at the level of the sigmas' span (|first - last|, or the
    only sigma), as sampling would start from it."""

    display_name = "AddNoise"
    category = "_for_testing/custom_sampling/noise"
    experimental = True
    inputs = (model_input(), Link("noise", NOISE, tooltip="The noise to add (RandomNoise)."),
              _sigmas_input(), _latent_input())
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, model: DiffusionModel, noise: SeededNoise, sigmas: Tensor,
            latent_image: Latent) -> tuple[Any, ...]:
        sigmas = _check_sigmas(self.type_name, sigmas)
        if len(sigmas) == 0:
            return (latent_image,)
        samples = latent_image.samples
        drawn = noise.generate(samples, latent_image.batch_index).to(samples)
        scale = (sigmas[0] - sigmas[-1]).abs() if len(sigmas) > 1 else sigmas[0]
        fmt = model.latent_format
        start = fmt.process_in(samples) if torch.count_nonzero(samples) > 0 else samples
        noisy = fmt.process_out(model.model_sampling.noise_scaling(scale, drawn, start))
        noisy = torch.nan_to_num(noisy, nan=0.0, posinf=0.0, neginf=0.0)
        return (dataclasses.replace(latent_image, samples=noisy),)


CUSTOM_SAMPLING_NODES: list[type[Node]] = [
    SamplerCustom, SamplerCustomAdvanced, KSamplerSelect, RandomNoise, DisableNoise, AddNoise,
    CFGGuider,
]
