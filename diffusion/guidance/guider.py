"""Guiders: how a sampling run turns the model into the ``model(x, sigma) -> x0`` the samplers
call (ComfyUI's GUIDER). ``CFGGuider`` is classifier-free guidance between two conditionings,
``BasicGuider`` the positive conditioning alone; ``DualCFGGuider`` and ``PerpNegGuider`` live in
their own modules; a plugin's guider implements the same protocol.

A guider that can also record each call's unconditional prediction (for CFG++ samplers)
implements :class:`UncondGuider`; ``sample`` refuses a CFG++ sampler with any other guider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import Tensor

from diffusion.guidance.adm import Side
from diffusion.guidance.apply_model import ModelApplier
from diffusion.guidance.cond import Cond
from diffusion.guidance.denoiser import guided_denoiser
from diffusion.guidance.guided_model import GuidedModel
from diffusion.guidance.sides import SideEvaluator, SideInputs, side_evaluator
from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.uncond import UncondTap


class Guider(Protocol):
    @property
    def model(self) -> GuidedModel:
        """The model sampled (its schedule and latent format frame the run)."""
        ...

    def denoiser(self, latent: Tensor, mask: Tensor | None) -> Denoiser:
        """The denoiser for one run over ``latent`` (model space, (B, C, H, W)); ``mask`` is
        the prepared noise mask (B, C, H, W), 1 = regenerate, or None."""
        ...


@runtime_checkable
class UncondGuider(Guider, Protocol):
    def tapped_denoiser(self, latent: Tensor, mask: Tensor | None, tap: UncondTap) -> Denoiser:
        """As ``denoiser``, recording into ``tap`` the unconditional prediction of every call
        (the one post-CFG functions see); sides are never skipped as an optimisation then."""
        ...


def model_sides(
    model: GuidedModel,
    sides: Sequence[tuple[Sequence[Cond], Side]],
    latent: Tensor,
    mask: Tensor | None,
    max_batch_area: int | None = None,
    order: Sequence[int] | None = None,
) -> SideEvaluator:
    """The evaluator of ``sides`` of ``model`` for a run over ``latent`` (``side_evaluator``),
    with the model's hooks bound for this run (the evaluator's ``hooks``: use those, not the
    model's, for the rest of the run)."""
    inputs = SideInputs(latent.shape, model.adm, model.inpaint_concat, latent, mask,
                        model.latent_format.process_in, max_batch_area, model.dtype,
                        model.ip2p_concat, model.adm_noise)
    applier = ModelApplier(model.unet, model.model_sampling, model.dtype, model.unet_for)
    return side_evaluator(applier, sides, inputs, model.hooks.for_run(), order)


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
        return self._denoiser(latent, mask, None)

    def tapped_denoiser(self, latent: Tensor, mask: Tensor | None, tap: UncondTap) -> Denoiser:
        return self._denoiser(latent, mask, tap)

    def _denoiser(self, latent: Tensor, mask: Tensor | None, tap: UncondTap | None) -> Denoiser:
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
            uncond_tap=tap,
            unet_for=model.unet_for,
            ip2p_concat=model.ip2p_concat,
            adm_noise=model.adm_noise,
        )


@dataclass(frozen=True, eq=False)
class BasicGuider:
    """The model's prediction for ``conditioning`` alone (ComfyUI's ``Guider_Basic``: CFG at
    scale 1 without a negative side; the post-CFG functions see an unconditional prediction of
    0). It has no unconditional prediction to give CFG++ samplers, so it is no
    :class:`UncondGuider` (ComfyUI silently feeds them zeros)."""

    model: GuidedModel
    conditioning: Sequence[Cond]
    max_batch_area: int | None = None

    def denoiser(self, latent: Tensor, mask: Tensor | None) -> Denoiser:
        return CFGGuider(self.model, self.conditioning, (), 1.0,
                         self.max_batch_area).denoiser(latent, mask)
