"""The one place the sampling nodes call ``diffusion.guidance.sample``.

The guider's UNet is made resident (with its weight patches) and pinned through ``ctx.models``
for the duration of the run; entries with weight hooks are evaluated with the UNet patched by
their hooks (``nodes.hooks.patching.hooked_unets``: built once per hook group and strength, pinned
around each of their forwards); every step reports progress (which raises ``NodeInterrupted`` when
the job is cancelled, so a cancel stops sampling within one step) with a latent→RGB preview at
most every ``PREVIEW_INTERVAL_S``, as ComfyUI's ``("JPEG", image, 512)``: the server decides
whether the job gets it and fits it into 512 px. Inputs are never modified: the result is a new
``Latent`` that keeps the input's noise mask and batch index, as ComfyUI's ``latent.copy()``
does.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from torch import Tensor

from diffusion.guidance import GuidedModel, sample
from diffusion.guidance.unclip import model_adm_noise
from diffusion.previews import LATENT_RGB, preview_frame
from diffusion.sampling import Noise, SamplerSpec
from nodes.api import RunContext
from nodes.hooks.patching import hooked_unets
from nodes.payloads import DiffusionModel, GuiderPayload, Latent

PREVIEW_INTERVAL_S = 0.1


class StepReporter:
    """The sampler callback: progress every step, a cheap preview when one is due, and the
    latest x0 prediction (SamplerCustom's ``denoised_output``)."""

    def __init__(self, ctx: RunContext, family: str, interval: float = PREVIEW_INTERVAL_S) -> None:
        self.ctx = ctx
        self.family = family if family in LATENT_RGB else None
        self.interval = interval
        self.last_preview = float("-inf")
        self.last_x0: Tensor | None = None

    def __call__(self, step: int, total: int, x0: Tensor) -> None:
        self.last_x0 = x0  # (B, C, h, w), model space
        self.ctx.progress(step + 1, total, self._preview(x0, step + 1 == total))

    def _preview(self, x0: Tensor, last: bool) -> Any:
        now = time.monotonic()
        if self.family is None or (now - self.last_preview < self.interval and not last):
            return None
        self.last_preview = now
        return preview_frame(x0, self.family)


def check_latent(node: str, model: DiffusionModel, latent: Latent) -> None:
    channels = model.latent_format.channels
    if latent.samples.shape[1] != channels:
        raise ValueError(
            f"{node}: input 'latent_image' has {latent.samples.shape[1]} channels "
            f"{tuple(latent.samples.shape)}; a {model.family} model samples {channels}-channel "
            "latents"
        )


def run_sampling(
    ctx: RunContext,
    node: str,
    guide: GuiderPayload,
    sampler: SamplerSpec,
    sigmas: Tensor,
    noise: Noise,
    latent: Latent,
) -> tuple[Latent, Latent]:
    """(output, denoised_output) of one sampling run. denoised_output is the last step's x0
    prediction (the output itself when no step ran)."""
    model = guide.model
    check_latent(node, model, latent)
    reporter = StepReporter(ctx, model.family)
    ctx.check_cancelled()
    with ctx.models.use(model.unet, model.patches) as unet:
        adm_noise = model_adm_noise(model.adm, unet.config.adm_in_channels,
                                    model.noise_augmentor, noise.seed)
        guided = GuidedModel.from_unet(unet, model.model_sampling, model.latent_format,
                                       adm=model.adm, hooks=model.hooks,
                                       unet_for=hooked_unets(ctx.models, model),
                                       adm_noise=adm_noise)
        samples = sample(
            guide.bind(guided), sampler, sigmas, noise, latent.samples.to(ctx.models.device),
            mask=latent.noise_mask, batch_index=latent.batch_index, callback=reporter,
        )  # (B, C, h, w) raw latents
    out = dataclasses.replace(latent, samples=samples.cpu())
    if reporter.last_x0 is None:
        return out, out
    x0 = model.latent_format.process_out(reporter.last_x0.float()).cpu()  # (B, C, h, w)
    return out, dataclasses.replace(latent, samples=x0)
