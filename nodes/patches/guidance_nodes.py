"""Guidance patch nodes: RescaleCFG, CFGNorm, CFGZeroStar, Tangential Damping CFG, Adaptive
Projected Guidance, Mahiro, FreSca, Self-Attention Guidance, Perp-Neg (the deprecated MODEL
patch) and Differential Diffusion."""

from __future__ import annotations

from typing import Any

from diffusion import model_patches as mp
from diffusion.guidance import Cond
from nodes.api import CONDITIONING, MODEL, Float, Int, Link, Node, Output, RunContext
from nodes.patches.common import model_input, patched
from nodes.payloads import DiffusionModel

GUIDANCE = "advanced/guidance"
TESTING = "_for_testing"


class RescaleCFG(Node):
    """Rescales the CFG result toward the conditional prediction's spread (on v-predictions),
    against the over-exposure of high CFG with zero-terminal-SNR models."""

    display_name = "RescaleCFG"
    category = "advanced/model"
    inputs = (model_input(),
              Float("multiplier", default=0.7, min=0.0, max=1.0, step=0.01,
                    tooltip="How much of the rescaled result is used (0: plain CFG)."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, multiplier: float) -> tuple[Any, ...]:
        return (patched(model, mp.RescaleCFG(multiplier)),)


class CFGNorm(Node):
    """Scales the guided prediction down, per pixel, to the conditional prediction's norm."""

    category = GUIDANCE
    experimental = True
    inputs = (model_input(),
              Float("strength", default=1.0, min=0.0, max=100.0, step=0.01,
                    tooltip="Factor on the normalised prediction."))
    outputs = (Output(MODEL, "patched_model"),)

    def run(self, ctx: RunContext, model: DiffusionModel, strength: float) -> tuple[Any, ...]:
        return (patched(model, mp.CFGNorm(strength)),)


class CFGZeroStar(Node):
    """CFG-Zero*: rescales the unconditional prediction by the optimal scale between the two
    noise predictions."""

    category = GUIDANCE
    inputs = (model_input(),)
    outputs = (Output(MODEL, "patched_model"),)

    def run(self, ctx: RunContext, model: DiffusionModel) -> tuple[Any, ...]:
        return (patched(model, mp.CFGZeroStar()),)


class TCFG(Node):
    """Tangential Damping CFG: refines the negative prediction to align with the positive one
    (its components off their shared principal direction are dropped)."""

    display_name = "Tangential Damping CFG"
    category = GUIDANCE
    inputs = (model_input(),)
    outputs = (Output(MODEL, "patched_model"),)

    def run(self, ctx: RunContext, model: DiffusionModel) -> tuple[Any, ...]:
        return (patched(model, mp.TCFG()),)


class APG(Node):
    """Adaptive Projected Guidance: CFG with the guidance's part parallel to the conditional
    prediction rescaled, its norm capped, and optionally a running average (momentum)."""

    display_name = "Adaptive Projected Guidance"
    category = "sampling/custom_sampling"
    inputs = (
        model_input(),
        Float("eta", default=1.0, min=-10.0, max=10.0, step=0.01,
              tooltip="Scale of the parallel part of the guidance (1: as CFG)."),
        Float("norm_threshold", default=5.0, min=0.0, max=50.0, step=0.1,
              tooltip="Cap on the guidance's norm (0: no cap)."),
        Float("momentum", default=0.0, min=-5.0, max=1.0, step=0.01,
              tooltip="Weight of the running average of the guidance (0: off)."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, eta: float, norm_threshold: float,
            momentum: float) -> tuple[Any, ...]:
        return (patched(model, mp.APG(eta, norm_threshold, momentum)),)


class Mahiro(Node):
    """Scales the guidance more along the positive prompt's direction than along its
    difference from the negative."""

    display_name = "Mahiro is so cute that she deserves a better guidance function!! (。・ω・。)"
    category = TESTING
    experimental = True
    inputs = (model_input(),)
    outputs = (Output(MODEL, "patched_model"),)

    def run(self, ctx: RunContext, model: DiffusionModel) -> tuple[Any, ...]:
        return (patched(model, mp.Mahiro()),)


class FreSca(Node):
    """Scales the guidance's low and high frequencies separately."""

    display_name = "FreSca"
    category = TESTING
    experimental = True
    inputs = (
        model_input(),
        Float("scale_low", default=1.0, min=0, max=10, step=0.01,
              tooltip="Factor on the low frequencies."),
        Float("scale_high", default=1.25, min=0, max=10, step=0.01,
              tooltip="Factor on the high frequencies."),
        Int("freq_cutoff", default=20, min=1, max=10000, step=1,
            tooltip="Frequencies this close to the centre count as low."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, scale_low: float, scale_high: float,
            freq_cutoff: int) -> tuple[Any, ...]:
        return (patched(model, mp.FreSca(scale_low, scale_high, freq_cutoff)),)


class SelfAttentionGuidance(Node):
    """Self-Attention Guidance: steers away from the prediction for a copy of the image blurred
    where the middle block's self-attention concentrates."""

    display_name = "Self-Attention Guidance"
    category = TESTING
    experimental = True
    inputs = (
        model_input(),
        Float("scale", default=0.5, min=-2.0, max=5.0, step=0.01,
              tooltip="Strength of the guidance."),
        Float("blur_sigma", default=2.0, min=0.0, max=10.0, step=0.1,
              tooltip="Width of the Gaussian blur (0: no blur)."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, scale: float,
            blur_sigma: float) -> tuple[Any, ...]:
        return (patched(model, mp.SelfAttentionGuidance(scale, blur_sigma)),)


class PerpNeg(Node):
    """Perp-Neg as a model patch: pushes away only from the part of the negative prompt
    perpendicular to the positive one. Use PerpNegGuider instead."""

    display_name = "Perp-Neg (DEPRECATED by PerpNegGuider)"
    category = TESTING
    experimental = True
    deprecated = True
    inputs = (
        model_input(),
        Link("empty_conditioning", CONDITIONING, tooltip="The empty prompt's conditioning."),
        Float("neg_scale", default=1.0, min=0.0, max=100.0, step=0.01,
              tooltip="Scale of the perpendicular negative direction."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, empty_conditioning: tuple[Cond, ...],
            neg_scale: float) -> tuple[Any, ...]:
        return (patched(model, mp.PerpNegCFG(tuple(empty_conditioning), neg_scale)),)


class DifferentialDiffusion(Node):
    """Differential Diffusion: a soft inpainting mask decides how early each pixel is
    regenerated (strong mask values from the start, weak ones only late)."""

    display_name = "Differential Diffusion"
    category = TESTING
    experimental = True
    inputs = (model_input(),
              Float("strength", default=1.0, min=0.0, max=1.0, step=0.01, optional=True,
                    tooltip="Blend of the per-step binary mask with the soft one (1: binary)."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel,
            strength: float | None = 1.0) -> tuple[Any, ...]:
        chosen = 1.0 if strength is None else strength
        return (patched(model, mp.DifferentialDiffusion(chosen)),)


GUIDANCE_PATCH_NODES: list[type[Node]] = [
    RescaleCFG, CFGNorm, CFGZeroStar, TCFG, APG, Mahiro, FreSca, SelfAttentionGuidance,
    PerpNeg, DifferentialDiffusion,
]
