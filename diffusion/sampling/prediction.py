"""What a network predicts, and how its input is scaled and its output read as x0.

One set of formulas per prediction type, as ComfyUI's model-sampling mixins define them (EPS,
V_PREDICTION, EDM, X0, IMG_TO_IMG, LCM, COSMOS_RFLOW), in the k-diffusion convention
``x = x0 + sigma * eps``. :class:`PredictionScalings` gives a model sampling class its
``calculate_input`` / ``calculate_denoised`` / ``noise_scaling`` from its ``prediction``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

Prediction = Literal["eps", "v_prediction", "edm", "x0", "img_to_img", "lcm", "cosmos_rflow"]

LCM_SIGMA_DATA = 0.5  # the consistency-model boundary condition of LCM (Luo et al. 2023)
LCM_TIMESTEP_SCALING = 10.0


def sigma_view(sigma: Tensor, ndim: int) -> Tensor:
    """A scalar sigma as a 0-d tensor, a per-sample sigma (B,) as (B, 1, ..., 1)."""
    if sigma.numel() == 1:
        return sigma.reshape(())  # ()
    return sigma.reshape(sigma.shape[:1] + (1,) * (ndim - 1))  # (B, 1, ..., 1)


def scale_input(prediction: Prediction, sigma: Tensor, noisy: Tensor, sigma_data: float) -> Tensor:
    """c_in: the network's input for ``noisy = x0 + sigma * eps``."""
    if prediction == "img_to_img":
        return noisy
    s = sigma_view(sigma, noisy.ndim)
    if prediction == "cosmos_rflow":
        t = s / (s + 1)  # rectified-flow time
        return noisy * (1.0 - t)
    return noisy / (s**2 + sigma_data**2) ** 0.5


def lcm_denoised(timestep: Tensor, x0: Tensor, noisy: Tensor) -> Tensor:
    """LCM's skip/out blend of the eps-derived x0 and the input, at the model's timestep."""
    scaled = sigma_view(timestep, x0.ndim) * LCM_TIMESTEP_SCALING
    c_skip = LCM_SIGMA_DATA**2 / (scaled**2 + LCM_SIGMA_DATA**2)
    c_out = scaled / (scaled**2 + LCM_SIGMA_DATA**2) ** 0.5
    return c_out * x0 + c_skip * noisy


def denoised_from_output(
    prediction: Prediction,
    sigma: Tensor,
    output: Tensor,
    noisy: Tensor,
    sigma_data: float,
    timestep: Tensor | None = None,
) -> Tensor:
    """x0 from the network ``output`` and the unscaled input ``noisy``; ``timestep`` (the
    model's timestep for ``sigma``) is needed by ``lcm`` only."""
    if prediction in ("x0", "img_to_img"):
        return output
    s = sigma_view(sigma, output.ndim)
    if prediction in ("eps", "lcm"):
        x0 = noisy - output * s
        if prediction == "eps":
            return x0
        if timestep is None:
            raise ValueError("prediction 'lcm' needs the model timestep of sigma")
        return lcm_denoised(timestep, x0, noisy)
    if prediction == "cosmos_rflow":
        t = s / (s + 1)
        return noisy * (1.0 - t) - output * t
    sd2 = sigma_data**2
    skip = noisy * sd2 / (s**2 + sd2)
    out = output * s * sigma_data / (s**2 + sd2) ** 0.5
    return skip - out if prediction == "v_prediction" else skip + out


def add_noise(
    prediction: Prediction, sigma: Tensor, noise: Tensor, latent: Tensor, max_denoise: bool
) -> Tensor:
    """The start of sampling: ``latent + sigma * noise`` (``sqrt(1 + sigma^2)`` at full denoise,
    except for ``cosmos_rflow``, which ComfyUI always scales by sigma)."""
    s = sigma_view(sigma, noise.ndim)
    scale = torch.sqrt(1.0 + s**2.0) if max_denoise and prediction != "cosmos_rflow" else s
    return noise * scale + latent


class PredictionScalings:
    """``calculate_input`` / ``calculate_denoised`` / ``noise_scaling`` / ``is_max_denoise``
    of a model sampling class from its ``prediction``, ``sigma_data``, ``timestep`` and
    ``sigma_max`` (mixed into the frozen model-sampling dataclasses)."""

    prediction: Prediction
    sigma_data: float

    def timestep(self, sigma: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def sigma_max(self) -> Tensor:
        raise NotImplementedError

    def calculate_input(self, sigma: Tensor, noisy: Tensor) -> Tensor:
        """c_in: scales the input ``x0 + sigma * eps`` for the network."""
        return scale_input(self.prediction, sigma, noisy, self.sigma_data)

    def calculate_denoised(
        self, sigma: Tensor, model_output: Tensor, model_input: Tensor
    ) -> Tensor:
        """x0 from the network output and the unscaled input x."""
        timestep = self.timestep(sigma) if self.prediction == "lcm" else None
        return denoised_from_output(
            self.prediction, sigma, model_output, model_input, self.sigma_data, timestep
        )

    def noise_scaling(
        self, sigma: Tensor, noise: Tensor, latent_image: Tensor, max_denoise: bool = False
    ) -> Tensor:
        """The start: ``latent + sigma * noise`` (``sqrt(1 + sigma^2)`` at full denoise)."""
        return add_noise(self.prediction, sigma, noise, latent_image, max_denoise)

    def inverse_noise_scaling(self, sigma: Tensor, latent: Tensor) -> Tensor:
        return latent

    def is_max_denoise(self, sigmas: Tensor) -> bool:
        """True when sampling starts at (or above) sigma_max (noise is then sqrt(1 + sigma^2))."""
        max_sigma, first = float(self.sigma_max), float(sigmas[0])
        return math.isclose(max_sigma, first, rel_tol=1e-05) or first > max_sigma
