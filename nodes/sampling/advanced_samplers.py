"""ComfyUI's ``nodes_advanced_samplers``: SamplerLCMUpscale (LCM that grows the latent between
steps) and SamplerEulerCFGpp (Euler CFG++, or its ``alternative`` formulation)."""

from __future__ import annotations

import functools
from typing import Any

from diffusion.sampling import SamplerSpec
from diffusion.sampling.cfg_pp_samplers import sample_euler_cfg_pp_alternative
from diffusion.sampling.lcm_upscale import sample_lcm_upscale
from nodes.api import SAMPLER, Combo, Float, Int, Node, Output, RunContext
from nodes.latents.resample import upscale_latent
from nodes.sampling.sampler_nodes import SAMPLERS_CATEGORY

LCM_UPSCALE_METHODS = ("bislerp", "nearest-exact", "bilinear", "area", "bicubic")
EULER_CFG_PP_VERSIONS = ("regular", "alternative")


class SamplerLCMUpscale(Node):
    """LCM sampling that upscales the latent by ``scale_ratio`` over its first steps."""

    display_name = "SamplerLCMUpscale"
    category = SAMPLERS_CATEGORY
    inputs = (
        Float("scale_ratio", default=1.0, min=0.1, max=20.0, step=0.01,
              tooltip="Total upscale factor of the latent."),
        Int("scale_steps", default=-1, min=-1, max=1000, step=1,
            tooltip="Steps that upscale (-1: half the steps)."),
        Combo("upscale_method", choices=LCM_UPSCALE_METHODS, tooltip="How x0 is resized."),
    )
    outputs = (Output(SAMPLER),)

    def run(self, ctx: RunContext, scale_ratio: float, scale_steps: int,
            upscale_method: str) -> tuple[Any, ...]:
        if upscale_method not in LCM_UPSCALE_METHODS:
            raise ValueError(f"SamplerLCMUpscale: input 'upscale_method' must be one of "
                             f"{list(LCM_UPSCALE_METHODS)}, got {upscale_method!r}")
        resize = functools.partial(upscale_latent, method=upscale_method)
        options = {"total_upscale": scale_ratio, "resize": resize,
                   "upscale_steps": None if scale_steps < 0 else scale_steps}
        return (SamplerSpec("lcm_upscale", sample_lcm_upscale, noise="gaussian",
                            options=options),)


class SamplerEulerCFGpp(Node):
    """Euler CFG++ (``regular``: the euler_cfg_pp sampler)."""

    display_name = "SamplerEulerCFG++"
    category = "_for_testing"
    experimental = True
    inputs = (Combo("version", choices=EULER_CFG_PP_VERSIONS, tooltip="Which formulation."),)
    outputs = (Output(SAMPLER),)

    def run(self, ctx: RunContext, version: str) -> tuple[Any, ...]:
        if version not in EULER_CFG_PP_VERSIONS:
            raise ValueError(f"SamplerEulerCFGpp: input 'version' must be one of "
                             f"{list(EULER_CFG_PP_VERSIONS)}, got {version!r}")
        if version == "regular":
            return (ctx.sampling.sampler("euler_cfg_pp"),)
        return (SamplerSpec("euler_cfg_pp_alternative", sample_euler_cfg_pp_alternative,
                            needs_uncond=True),)


ADVANCED_SAMPLER_NODES: list[type[Node]] = [SamplerLCMUpscale, SamplerEulerCFGpp]
