"""Discrete-time model sampling: the noise levels of an SD-style model and its input/output scaling.

Samplers work in the k-diffusion convention: ``x = x0 + sigma * eps`` and a denoiser returning
x0. A discrete model (SD1.x, SD2.x, SDXL) was trained on 1000 timesteps of a scaled-linear beta
schedule; this module turns that into the table of sigmas, maps sigma to the model's timestep
and back (ComfyUI's ``ModelSamplingDiscrete``), and converts the raw network output (eps or v)
into x0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args

import torch
from torch import Tensor

Prediction = Literal["eps", "v_prediction"]
Denoiser = Callable[..., Tensor]
"""``model(x, sigma, **extra_args) -> x0``: sigma has shape (B,), x and x0 share a shape."""

ZSNR_LAST_ALPHA_BAR = 4.8973451890853435e-08
"""ComfyUI's stand-in for the zero terminal alpha_bar (sigma_max ~ 4518.8, not infinity)."""


def scaled_linear_betas(linear_start: float, linear_end: float, num_timesteps: int) -> Tensor:
    """LDM's "linear" schedule (diffusers' "scaled_linear"): betas linear in sqrt, float64."""
    return (
        torch.linspace(linear_start**0.5, linear_end**0.5, num_timesteps, dtype=torch.float64) ** 2
    )


def rescale_zero_terminal_snr_sigmas(sigmas: Tensor) -> Tensor:
    """Rescales sigmas so the last timestep has (almost) zero SNR (Lin et al. 2023, Alg. 1)."""
    alphas_bar_sqrt = (1.0 / (sigmas * sigmas + 1.0)).sqrt()
    first, last = alphas_bar_sqrt[0].clone(), alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * (first / (first - last))
    alphas_bar = alphas_bar_sqrt**2
    alphas_bar[-1] = ZSNR_LAST_ALPHA_BAR
    return ((1.0 - alphas_bar) / alphas_bar) ** 0.5


def _sigma_view(sigma: Tensor, ndim: int) -> Tensor:
    """A scalar sigma as a 0-d tensor, a per-sample sigma (B,) as (B, 1, ..., 1)."""
    if sigma.numel() == 1:
        return sigma.reshape(())  # ()
    return sigma.reshape(sigma.shape[:1] + (1,) * (ndim - 1))  # (B, 1, ..., 1)


@dataclass(frozen=True)
class ModelSamplingDiscrete:
    """Noise levels and scalings of a discrete eps / v-prediction model.

    ``sigmas`` is ascending (index = timestep), float32 like ComfyUI's buffers, so schedules built
    from it reproduce ComfyUI's tables exactly.
    """

    prediction: Prediction = "eps"
    zsnr: bool = False
    linear_start: float = 0.00085
    linear_end: float = 0.012
    num_timesteps: int = 1000
    sigma_data: float = 1.0

    def __post_init__(self) -> None:
        if self.prediction not in get_args(Prediction):
            raise ValueError(
                f"prediction must be one of {get_args(Prediction)}, got {self.prediction!r}"
            )
        if self.num_timesteps < 2:
            raise ValueError(f"num_timesteps must be >= 2, got {self.num_timesteps!r}")
        if not 0.0 < self.linear_start < self.linear_end < 1.0:
            raise ValueError(
                f"need 0 < linear_start < linear_end < 1, got {self.linear_start!r}, "
                f"{self.linear_end!r}"
            )

    @cached_property
    def sigmas_float64(self) -> Tensor:
        """The ascending sigma table before ComfyUI's float32 rounding."""
        betas = scaled_linear_betas(self.linear_start, self.linear_end, self.num_timesteps)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1.0 - alphas_cumprod) / alphas_cumprod) ** 0.5
        return rescale_zero_terminal_snr_sigmas(sigmas) if self.zsnr else sigmas

    @cached_property
    def sigmas(self) -> Tensor:
        return self.sigmas_float64.float()

    @cached_property
    def log_sigmas(self) -> Tensor:
        return self.sigmas_float64.log().float()

    @property
    def sigma_min(self) -> Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: Tensor) -> Tensor:
        """The nearest timestep index (in log sigma) for each sigma, as ComfyUI; int64."""
        log_sigma = sigma.log()
        dists = log_sigma.to(self.log_sigmas.device) - self.log_sigmas[:, None]  # (T, N)
        return dists.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep: Tensor) -> Tensor:
        """Sigma at a fractional timestep: log-linear interpolation, clamped to the table."""
        t = torch.clamp(
            timestep.float().to(self.log_sigmas.device), min=0, max=len(self.sigmas) - 1
        )
        low, high = t.floor().long(), t.ceil().long()
        w = t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma after ``percent`` of the schedule (ConditioningSetTimestepRange, ControlNet)."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return self.sigma(torch.tensor((1.0 - percent) * 999.0)).item()

    def calculate_input(self, sigma: Tensor, noisy: Tensor) -> Tensor:
        """c_in: scales the input ``x0 + sigma * eps`` to unit variance for the network."""
        s = _sigma_view(sigma, noisy.ndim)
        return noisy / (s**2 + self.sigma_data**2) ** 0.5

    def calculate_denoised(
        self, sigma: Tensor, model_output: Tensor, model_input: Tensor
    ) -> Tensor:
        """x0 from the network output (eps or v) and the unscaled input x."""
        s = _sigma_view(sigma, model_output.ndim)
        if self.prediction == "eps":
            return model_input - model_output * s
        sd2 = self.sigma_data**2
        return (
            model_input * sd2 / (s**2 + sd2)
            - model_output * s * self.sigma_data / (s**2 + sd2) ** 0.5
        )

    def noise_scaling(
        self, sigma: Tensor, noise: Tensor, latent_image: Tensor, max_denoise: bool = False
    ) -> Tensor:
        """The start: ``latent + sigma * noise`` (``sqrt(1 + sigma^2)`` at full denoise)."""
        s = _sigma_view(sigma, noise.ndim)
        scale = torch.sqrt(1.0 + s**2.0) if max_denoise else s
        return noise * scale + latent_image

    def inverse_noise_scaling(self, sigma: Tensor, latent: Tensor) -> Tensor:
        return latent

    def is_max_denoise(self, sigmas: Tensor) -> bool:
        """True when sampling starts at (or above) sigma_max (noise is then sqrt(1 + sigma^2))."""
        max_sigma, first = float(self.sigma_max), float(sigmas[0])
        return math.isclose(max_sigma, first, rel_tol=1e-05) or first > max_sigma


def make_denoiser(
    model_sampling: ModelSamplingDiscrete, apply_model: Callable[..., Tensor]
) -> Denoiser:
    """Wraps a raw network ``apply_model(x_in, timestep, **kwargs) -> eps | v`` as an x0 denoiser.

    As ComfyUI's ``BaseModel.apply_model``: the network sees ``c_in * x`` and the nearest discrete
    timestep as float.
    """

    def denoise(x: Tensor, sigma: Tensor, **kwargs: Any) -> Tensor:
        x_in = model_sampling.calculate_input(sigma, x)
        timestep = model_sampling.timestep(sigma).float()
        output = apply_model(x_in, timestep, **kwargs)
        return model_sampling.calculate_denoised(sigma, output, x)

    return denoise
