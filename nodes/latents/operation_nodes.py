"""Latent operation nodes: make an operation (sharpen, Reinhard tonemap), apply it to latents,
or apply it to each guided step's prediction (a MODEL patch)."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import Tensor

from diffusion.guidance import PreCFGArgs
from nodes.api import LATENT, LATENT_OPERATION, MODEL, Float, Int, Link, Node, Output, RunContext
from nodes.latents.operations import LatentOperation, Sharpen, TonemapReinhard
from nodes.payloads import DiffusionModel, Latent

CATEGORY = "latent/advanced/operations"


def _operation() -> Link:
    return Link("operation", LATENT_OPERATION, tooltip="The operation to apply.")


class LatentOperationSharpen(Node):
    """An operation that sharpens the latents' channel directions (unsharp masking with a
    Gaussian of the given radius and sigma; alpha is the strength)."""

    category = CATEGORY
    experimental = True
    inputs = (
        Int("sharpen_radius", default=9, min=1, max=31, step=1,
            tooltip="Kernel radius in latent samples."),
        Float("sigma", default=1.0, min=0.1, max=10.0, step=0.1,
              tooltip="Gaussian width (the kernel spans -1 … 1)."),
        Float("alpha", default=0.1, min=0.0, max=5.0, step=0.01, tooltip="Strength."),
    )
    outputs = (Output(LATENT_OPERATION),)

    def run(self, ctx: RunContext, sharpen_radius: int, sigma: float,
            alpha: float) -> tuple[Any, ...]:
        return (Sharpen(sharpen_radius, sigma, alpha),)


class LatentOperationTonemapReinhard(Node):
    """An operation that compresses the latents' channel lengths with Reinhard's curve."""

    category = CATEGORY
    experimental = True
    inputs = (Float("multiplier", default=1.0, min=0.0, max=100.0, step=0.01,
                    tooltip="Scales the white point (mean + 5 std of the lengths)."),)
    outputs = (Output(LATENT_OPERATION),)

    def run(self, ctx: RunContext, multiplier: float) -> tuple[Any, ...]:
        return (TonemapReinhard(multiplier),)


class LatentApplyOperation(Node):
    """Applies a latent operation to the latents."""

    category = CATEGORY
    experimental = True
    inputs = (Link("samples", LATENT, tooltip="The latents."), _operation())
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent,
            operation: LatentOperation) -> tuple[Any, ...]:
        return (dataclasses.replace(samples, samples=operation(latent=samples.samples)),)


@dataclasses.dataclass(frozen=True, eq=False)
class OperationBeforeCFG:
    """A pre-CFG hook: the operation applied to cond − uncond (ComfyUI's
    LatentApplyOperationCFG); the unconditional prediction is kept."""

    operation: LatentOperation

    def __call__(self, args: PreCFGArgs) -> tuple[Tensor, Tensor]:
        uncond = args.uncond_denoised
        return self.operation(latent=args.cond_denoised - uncond) + uncond, uncond


class LatentApplyOperationCFG(Node):
    """Patches the model: at each guided (CFG) step the operation is applied to the guidance
    direction, cond − uncond, before the two are combined."""

    category = CATEGORY
    experimental = True
    inputs = (Link("model", MODEL, tooltip="The model to patch."), _operation())
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel,
            operation: LatentOperation) -> tuple[Any, ...]:
        hooks = model.hooks.plus(pre_cfg=(OperationBeforeCFG(operation),))
        return (dataclasses.replace(model, hooks=hooks),)


LATENT_OPERATION_NODES = [LatentApplyOperation, LatentApplyOperationCFG,
                          LatentOperationTonemapReinhard, LatentOperationSharpen]
