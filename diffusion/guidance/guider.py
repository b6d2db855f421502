"""Guiders: how a sampling run turns the model into the ``model(x, sigma) -> x0`` the samplers
call (ComfyUI's GUIDER). ``CFGGuider`` is classifier-free guidance between two conditionings;
other guiders (dual CFG, Perp-Neg, a plugin's) implement the same protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

from diffusion.guidance.cond import Cond
from diffusion.guidance.denoiser import guided_denoiser
from diffusion.guidance.guided_model import GuidedModel
from diffusion.sampling.model_sampling import Denoiser


class Guider(Protocol):
    @property
    def model(self) -> GuidedModel:
        """The model sampled (its schedule and latent format frame the run)."""
        ...

    def denoiser(self, latent: Tensor, mask: Tensor | None) -> Denoiser:
        """The denoiser for one run over ``latent`` (model space, (B, C, H, W)); ``mask`` is
        the prepared noise mask (B, C, H, W), 1 = regenerate, or None."""
        ...


@dataclass(frozen=True, eq=False)
class CFGGuider:
    """``uncond + (cond - uncond) * cfg`` of ``model`` (with its hooks) between ``positive`` and
    ``negative``; ``max_batch_area`` bounds rows x h x w per forward (None: no bound)."""

    model: GuidedModel
    positive: Sequence[Cond]
    negative: Sequence[Cond]
    cfg: float
    max_batch_area: int | None = None

    def denoiser(self, latent: Tensor, mask: Tensor | None) -> Denoiser:
        model = self.model
        return guided_denoiser(
            model.unet,
            model.model_sampling,
            self.positive,
            self.negative,
            self.cfg,
            latent_shape=latent.shape,
            adm=model.adm,
            inpaint_concat=model.inpaint_concat,
            latent_image=latent,
            denoise_mask=mask,
            process_in=model.latent_format.process_in,
            hooks=model.hooks,
            max_batch_area=self.max_batch_area,
            dtype=model.dtype,
        )
