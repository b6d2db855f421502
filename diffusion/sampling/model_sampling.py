"""Model sampling: the noise levels of a model and how its network is talked to.

Samplers work in the k-diffusion convention: ``x = x0 + sigma * eps`` and a denoiser returning
x0. A model sampling maps sigma to the network's timestep and back, scales the network's input and
reads its output as x0 (``diffusion.sampling.prediction``), and gives the schedulers its sigma
range (and a table of sigmas). A discrete model (SD1.x, SD2.x, SDXL) was trained on 1000 timesteps
of a scaled-linear beta schedule (ComfyUI's ``ModelSamplingDiscrete``); ComfyUI's ``lcm`` mode uses
50 of those (``ModelSamplingDiscreteDistilled``); continuous-time models are in
``diffusion.sampling.continuous_sampling``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol, get_args

import torch
from torch import Tensor

from diffusion.sampling.prediction import Prediction, PredictionScalings

DiscretePrediction = Literal["eps", "v_prediction", "x0", "img_to_img"]
Denoiser = Callable[..., Tensor]
"""``model(x, sigma, **extra_args) -> x0``: sigma has shape (B,), x and x0 share a shape."""

ZSNR_LAST_ALPHA_BAR = 4.8973451890853435e-08
"""ComfyUI's stand-in for the zero terminal alpha_bar (sigma_max ~ 4518.8, not infinity)."""
DISTILLED_TIMESTEPS = 50  # ComfyUI's lcm mode: the LCM teacher's 50 DDIM timesteps


class ModelSampling(Protocol):
    """What samplers, schedulers and guidance need of a model's sampling."""

    @property
    def prediction(self) -> Prediction: ...

    @property
    def sigma_data(self) -> float: ...

    @property
    def sigmas(self) -> Tensor:
        """Ascending sigmas (the discrete table, or 1000 points of a continuous range)."""
        ...

    @property
    def sigma_min(self) -> Tensor: ...

    @property
    def sigma_max(self) -> Tensor: ...

    def timestep(self, sigma: Tensor) -> Tensor: ...

    def sigma(self, timestep: Tensor) -> Tensor: ...

    def percent_to_sigma(self, percent: float) -> float: ...

    def calculate_input(self, sigma: Tensor, noisy: Tensor) -> Tensor: ...

    def calculate_denoised(
        self, sigma: Tensor, model_output: Tensor, model_input: Tensor
    ) -> Tensor: ...

    def noise_scaling(
        self, sigma: Tensor, noise: Tensor, latent_image: Tensor, max_denoise: bool = False
    ) -> Tensor: ...

    def inverse_noise_scaling(self, sigma: Tensor, latent: Tensor) -> Tensor: ...

    def is_max_denoise(self, sigmas: Tensor) -> bool: ...

    def summary(self) -> str: ...


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


def interpolate_log_sigma(log_sigmas: Tensor, t: Tensor) -> Tensor:
    """exp of the log-sigma table linearly interpolated at fractional indices ``t`` (clamped)."""
    t = torch.clamp(t, min=0, max=len(log_sigmas) - 1)
    low, high = t.floor().long(), t.ceil().long()
    w = t.frac()
    return ((1 - w) * log_sigmas[low] + w * log_sigmas[high]).exp()


def nearest_index(log_sigmas: Tensor, sigma: Tensor) -> Tensor:
    """The index of the table entry nearest to each sigma in log sigma (int64, sigma's shape)."""
    dists = sigma.log().to(log_sigmas.device) - log_sigmas[:, None]  # (T, N)
    return dists.abs().argmin(dim=0).view(sigma.shape)


def discrete_percent_to_sigma(model_sampling: ModelSampling, percent: float) -> float:
    """ComfyUI's discrete ``percent_to_sigma``: sigma at timestep ``(1 - percent) * 999``."""
    if percent <= 0.0:
        return 999999999.9
    if percent >= 1.0:
        return 0.0
    return model_sampling.sigma(torch.tensor((1.0 - percent) * 999.0)).item()


@dataclass(frozen=True)
class ModelSamplingDiscrete(PredictionScalings):
    """Noise levels and scalings of a discrete model (eps, v, x0 or img_to_img prediction).

    ``sigmas`` is ascending (index = timestep), float32 like ComfyUI's buffers, so schedules built
    from it reproduce ComfyUI's tables exactly.
    """

    prediction: DiscretePrediction = "eps"
    zsnr: bool = False
    linear_start: float = 0.00085
    linear_end: float = 0.012
    num_timesteps: int = 1000
    sigma_data: float = 1.0

    def __post_init__(self) -> None:
        if self.prediction not in get_args(DiscretePrediction):
            raise ValueError(
                f"prediction must be one of {get_args(DiscretePrediction)}, got {self.prediction!r}"
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
        return nearest_index(self.log_sigmas, sigma).to(sigma.device)

    def sigma(self, timestep: Tensor) -> Tensor:
        """Sigma at a fractional timestep: log-linear interpolation, clamped to the table."""
        t = timestep.float().to(self.log_sigmas.device)
        return interpolate_log_sigma(self.log_sigmas, t).to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma after ``percent`` of the schedule (ConditioningSetTimestepRange, ControlNet)."""
        return discrete_percent_to_sigma(self, percent)

    def summary(self) -> str:
        return f"discrete {self.prediction}{', zsnr' if self.zsnr else ''}"


@dataclass(frozen=True)
class ModelSamplingDiscreteDistilled(PredictionScalings):
    """ComfyUI's ``lcm`` model sampling: every ``num_timesteps // original_timesteps``-th entry of
    the discrete table (timesteps 19, 39, ..., 999 for SD), timestep = index * skip + skip - 1,
    and LCM's skip/out parameterisation of x0 (``prediction`` is always ``lcm``)."""

    zsnr: bool = False
    linear_start: float = 0.00085
    linear_end: float = 0.012
    num_timesteps: int = 1000
    original_timesteps: int = DISTILLED_TIMESTEPS
    sigma_data: float = 1.0
    prediction: Prediction = "lcm"

    def __post_init__(self) -> None:
        if self.prediction != "lcm":
            raise ValueError(f"a distilled model sampling predicts 'lcm', got {self.prediction!r}")
        if not 1 <= self.original_timesteps <= self.num_timesteps:
            raise ValueError(
                f"original_timesteps must be in [1, {self.num_timesteps}], "
                f"got {self.original_timesteps!r}"
            )

    @property
    def skip_steps(self) -> int:
        return self.num_timesteps // self.original_timesteps

    @cached_property
    def sigmas(self) -> Tensor:
        full = ModelSamplingDiscrete("eps", self.zsnr, self.linear_start, self.linear_end,
                                     self.num_timesteps).sigmas
        last, count = self.num_timesteps - 1, self.original_timesteps
        picked = [last - k * self.skip_steps for k in range(count)][::-1]
        return full[picked]  # (original_timesteps,) float32, ascending

    @cached_property
    def log_sigmas(self) -> Tensor:
        return self.sigmas.log()

    @property
    def sigma_min(self) -> Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: Tensor) -> Tensor:
        """The teacher timestep of the nearest table entry (int64)."""
        index = nearest_index(self.log_sigmas, sigma)
        return (index * self.skip_steps + (self.skip_steps - 1)).to(sigma.device)

    def sigma(self, timestep: Tensor) -> Tensor:
        t = (timestep.float().to(self.log_sigmas.device) - (self.skip_steps - 1)) / self.skip_steps
        return interpolate_log_sigma(self.log_sigmas, t.float()).to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        return discrete_percent_to_sigma(self, percent)

    def summary(self) -> str:
        return f"discrete lcm{', zsnr' if self.zsnr else ''}"


def make_denoiser(model_sampling: ModelSampling, apply_model: Callable[..., Tensor]) -> Denoiser:
    """Wraps a raw network ``apply_model(x_in, timestep, **kwargs) -> eps | v`` as an x0 denoiser.

    As ComfyUI's ``BaseModel.apply_model``: the network sees ``c_in * x`` and the model's timestep
    (the nearest discrete one for discrete models) as float.
    """

    def denoise(x: Tensor, sigma: Tensor, **kwargs: Any) -> Tensor:
        x_in = model_sampling.calculate_input(sigma, x)
        timestep = model_sampling.timestep(sigma).float()
        output = apply_model(x_in, timestep, **kwargs)
        return model_sampling.calculate_denoised(sigma, output, x)

    return denoise


def discrete_model_sampling(sampling: str, zsnr: bool, base: ModelSampling) -> ModelSampling:
    """ComfyUI's ModelSamplingDiscrete patch: ``sampling`` (eps, v_prediction, lcm, x0,
    img_to_img) on the beta schedule of ``base`` when it is discrete (SD's otherwise), with
    zero-terminal-SNR rescaling when ``zsnr``."""
    schedule: dict[str, Any] = {}
    if isinstance(base, (ModelSamplingDiscrete, ModelSamplingDiscreteDistilled)):
        schedule = {"linear_start": base.linear_start, "linear_end": base.linear_end,
                    "num_timesteps": base.num_timesteps}
    if sampling == "lcm":
        return ModelSamplingDiscreteDistilled(zsnr=zsnr, **schedule)
    if sampling not in get_args(DiscretePrediction):
        raise ValueError(f"sampling must be one of {[*get_args(DiscretePrediction), 'lcm']}, "
                         f"got {sampling!r}")
    return ModelSamplingDiscrete(sampling, zsnr, **schedule)  # type: ignore[arg-type]
