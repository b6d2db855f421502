"""KSampler and KSamplerAdvanced, declared as ComfyUI's ``nodes.py`` declares them.

Each builds the four parts of a sampling run — guider (CFG), sampler (by name from
``ctx.sampling``), sigmas (KSampler's recipe and the advanced step window) and seeded noise —
and runs them like SamplerCustomAdvanced does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from diffusion.guidance import Cond
from diffusion.sampling import SamplerSpec, SeededNoise, advanced_sigmas, ksampler_sigmas
from diffusion.sampling.noise import SEED_MAX
from nodes.api import (
    CONDITIONING,
    LATENT,
    MODEL,
    Combo,
    Float,
    Int,
    Link,
    Node,
    Output,
    RunContext,
    SamplerNames,
    SchedulerNames,
)
from nodes.payloads import DiffusionModel, Latent
from nodes.sampling.payloads import CfgGuide
from nodes.sampling.run import run_sampling

MAX_STEPS = 10000
_CFG_TIP = ("The Classifier-Free Guidance scale balances creativity and adherence to the prompt. "
            "Higher values result in images more closely matching the prompt however too high "
            "values will negatively impact quality.")


def model_input() -> Link:
    return Link("model", MODEL, tooltip="The model used for denoising the input latent.")


def seed_input(name: str) -> Int:
    return Int(name, default=0, min=0, max=SEED_MAX, control_after_generate=True,
               tooltip="The random seed used for creating the noise.")


def steps_input() -> Int:
    return Int("steps", default=20, min=1, max=MAX_STEPS,
               tooltip="The number of steps used in the denoising process.")


def cfg_input() -> Float:
    return Float("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01, tooltip=_CFG_TIP)


def sampler_name_input() -> Combo:
    return Combo("sampler_name", choices=SamplerNames(),
                 tooltip="The algorithm used when sampling, this can affect the quality, speed, "
                         "and style of the generated output.")


def scheduler_input() -> Combo:
    return Combo("scheduler", choices=SchedulerNames(),
                 tooltip="The scheduler controls how noise is gradually removed to form the "
                         "image.")


def conditioning_inputs() -> tuple[Link, Link]:
    return (
        Link("positive", CONDITIONING, tooltip="The conditioning describing the attributes you "
                                               "want to include in the image."),
        Link("negative", CONDITIONING, tooltip="The conditioning describing the attributes you "
                                               "want to exclude from the image."),
    )


def latent_input() -> Link:
    return Link("latent_image", LATENT, tooltip="The latent image to denoise.")


@dataclass(frozen=True)
class KSamplerRecipe:
    """KSampler's sampler and sigmas: the named sampler and schedule (``ctx.sampling``), built
    for ``steps / denoise`` steps when denoise < 1, then KSamplerAdvanced's window: steps
    [start, last) of that schedule; ``force_full_denoise`` ends a truncated window at 0."""

    sampler_name: str
    scheduler: str
    steps: int
    denoise: float = 1.0
    start: int | None = None
    last: int | None = None
    force_full_denoise: bool = False

    def parts(self, ctx: RunContext, model: DiffusionModel) -> tuple[SamplerSpec, Tensor]:
        sampler = ctx.sampling.sampler(self.sampler_name)
        schedule = ctx.sampling.scheduler(self.scheduler)
        sigmas = ksampler_sigmas(model.model_sampling, sampler, schedule, self.steps,
                                 self.denoise)
        return sampler, advanced_sigmas(sigmas, self.start, self.last, self.force_full_denoise)


class KSampler(Node):
    """Uses the provided model, positive and negative conditioning to denoise the latent image."""

    display_name = "KSampler"
    category = "sampling"
    inputs = (
        model_input(),
        seed_input("seed"),
        steps_input(),
        cfg_input(),
        sampler_name_input(),
        scheduler_input(),
        *conditioning_inputs(),
        latent_input(),
        Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
              tooltip="The amount of denoising applied, lower values will maintain the "
                      "structure of the initial image allowing for image to image sampling."),
    )
    outputs = (Output(LATENT, tooltip="The denoised latent."),)

    def run(self, ctx: RunContext, model: DiffusionModel, seed: int, steps: int, cfg: float,
            sampler_name: str, scheduler: str, positive: tuple[Cond, ...],
            negative: tuple[Cond, ...], latent_image: Latent, denoise: float) -> tuple[Any, ...]:
        sampler, sigmas = KSamplerRecipe(sampler_name, scheduler, steps, denoise).parts(ctx, model)
        guide = CfgGuide(model, tuple(positive), tuple(negative), cfg)
        out, _ = run_sampling(ctx, self.type_name, guide, sampler, sigmas, SeededNoise(seed),
                              latent_image)
        return (out,)


class KSamplerAdvanced(Node):
    """KSampler with a step window: sample steps [start_at_step, end_at_step) of a ``steps``
    schedule, optionally without adding noise and returning the leftover noise, so one
    schedule can be split between models (SDXL base → refiner)."""

    display_name = "KSampler (Advanced)"
    category = "sampling"
    inputs = (
        model_input(),
        Combo("add_noise", choices=("enable", "disable"),
              tooltip="disable: the latent already carries noise (a previous window's output)."),
        seed_input("noise_seed"),
        steps_input(),
        cfg_input(),
        sampler_name_input(),
        scheduler_input(),
        *conditioning_inputs(),
        latent_input(),
        Int("start_at_step", default=0, min=0, max=MAX_STEPS,
            tooltip="The first step of the schedule to sample."),
        Int("end_at_step", default=10000, min=0, max=MAX_STEPS,
            tooltip="The step where sampling stops (exclusive)."),
        Combo("return_with_leftover_noise", choices=("disable", "enable"),
              tooltip="enable: stop at end_at_step with its noise left in; disable: denoise "
                      "fully at the end of the window."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, model: DiffusionModel, add_noise: str, noise_seed: int,
            steps: int, cfg: float, sampler_name: str, scheduler: str,
            positive: tuple[Cond, ...], negative: tuple[Cond, ...], latent_image: Latent,
            start_at_step: int, end_at_step: int,
            return_with_leftover_noise: str) -> tuple[Any, ...]:
        recipe = KSamplerRecipe(sampler_name, scheduler, steps, 1.0, start_at_step, end_at_step,
                                force_full_denoise=return_with_leftover_noise != "enable")
        sampler, sigmas = recipe.parts(ctx, model)
        guide = CfgGuide(model, tuple(positive), tuple(negative), cfg)
        noise = SeededNoise(noise_seed, enabled=add_noise == "enable")
        out, _ = run_sampling(ctx, self.type_name, guide, sampler, sigmas, noise, latent_image)
        return (out,)


KSAMPLER_NODES: list[type[Node]] = [KSampler, KSamplerAdvanced]
