"""Types and step helpers shared by the samplers (k-diffusion conventions).

A sampler is ``sample_<name>(model, x, sigmas, *, extra_args=None, callback=None,
noise_sampler=None) -> Tensor`` where ``model(x, sigma, **extra_args)`` returns the denoised x0
for ``x = x0 + sigma * eps`` and ``sigma`` has shape (B,). ``callback`` receives
``{"i", "x", "sigma", "sigma_hat", "denoised"}`` once per step, right after the step's first
model call; an exception raised by it propagates and ends sampling (cancellation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler

StepCallback = Callable[[dict[str, Any]], None]


class Sampler(Protocol):
    def __call__(
        self,
        model: Denoiser,
        x: Tensor,
        sigmas: Tensor,
        *,
        extra_args: dict[str, Any] | None = None,
        callback: StepCallback | None = None,
        noise_sampler: NoiseSampler | None = None,
    ) -> Tensor: ...


def append_dims(v: Tensor, ndim: int) -> Tensor:
    """Appends trailing singleton dims: (B,) -> (B, 1, ..., 1)."""
    return v[(...,) + (None,) * (ndim - v.ndim)]  # (B, 1, ..., 1)


def to_d(x: Tensor, sigma: Tensor, denoised: Tensor) -> Tensor:
    """The probability-flow ODE derivative dx/dsigma = (x - x0) / sigma."""
    return (x - denoised) / append_dims(sigma, x.ndim)


def ancestral_step(sigma_from: Tensor, sigma_to: Tensor, eta: float = 1.0) -> tuple[Tensor, Tensor]:
    """(sigma_down, sigma_up): deterministic step target and noise to add back (eta=1: DDPM)."""
    if not eta:
        return sigma_to, sigma_to * 0
    up = eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5
    sigma_up = up if up < sigma_to else sigma_to
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def require_noise(noise_sampler: NoiseSampler | None, sampler_name: str) -> NoiseSampler:
    """Stochastic samplers never fall back to a hidden RNG: the caller passes the noise."""
    if noise_sampler is None:
        raise ValueError(
            f"sampler {sampler_name!r} is stochastic and needs noise_sampler; build one with "
            "diffusion.sampling.make_noise_sampler(name, x, sigmas, seed)"
        )
    return noise_sampler


def report(
    callback: StepCallback | None,
    i: int,
    x: Tensor,
    sigma: Tensor,
    sigma_hat: Tensor,
    denoised: Tensor,
) -> None:
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "sigma_hat": sigma_hat, "denoised": denoised})
