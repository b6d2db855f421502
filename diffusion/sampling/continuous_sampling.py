"""Continuous-time model sampling (ComfyUI's ``ModelSamplingContinuousEDM`` / ``...V`` /
``...CosmosRFlow``): any sigma in [sigma_min, sigma_max] is a valid noise level.

The network's timestep is a function of sigma: ``0.25 * log(sigma)`` (EDM, Karras et al. 2022;
CosXL, Playground v2.5), ``2 / pi * atan(sigma)`` (continuous v-prediction) or
``sigma / (sigma + 1)`` (rectified flow). For the schedulers, ``sigmas`` holds 1000 log-spaced
points of the range in float32, as ComfyUI's buffer does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, get_args

import torch
from torch import Tensor

from diffusion.sampling.prediction import Prediction, PredictionScalings

EdmPrediction = Literal["eps", "v_prediction", "edm"]
TABLE_POINTS = 1000
EDM_TIMESTEP_SCALE = 0.25


def _check_range(min_sigma: float, max_sigma: float) -> None:
    if not 0.0 < min_sigma < max_sigma:
        raise ValueError(
            f"need 0 < sigma_min < sigma_max, got sigma_min={min_sigma!r}, "
            f"sigma_max={max_sigma!r}"
        )


@dataclass(frozen=True)
class ModelSamplingContinuousEDM(PredictionScalings):
    """EDM-style continuous model sampling between ``min_sigma`` and ``max_sigma``.

    ComfyUI's defaults: sigma range [0.002, 120], ``sigma_data`` 1 (0.5 for ``edm``)."""

    prediction: EdmPrediction = "v_prediction"
    min_sigma: float = 0.002
    max_sigma: float = 120.0
    sigma_data: float = 1.0

    def __post_init__(self) -> None:
        if self.prediction not in get_args(EdmPrediction):
            raise ValueError(
                f"prediction must be one of {get_args(EdmPrediction)}, got {self.prediction!r}"
            )
        _check_range(self.min_sigma, self.max_sigma)

    @cached_property
    def sigmas(self) -> Tensor:
        log_min, log_max = math.log(self.min_sigma), math.log(self.max_sigma)
        return torch.linspace(log_min, log_max, TABLE_POINTS).exp()  # (1000,) float32

    @property
    def sigma_min(self) -> Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: Tensor) -> Tensor:
        return EDM_TIMESTEP_SCALE * sigma.log()

    def sigma(self, timestep: Tensor) -> Tensor:
        return (timestep / EDM_TIMESTEP_SCALE).exp()

    def percent_to_sigma(self, percent: float) -> float:
        """Log-linear between the table's ends; 0% = 999999999.9 and 100% = 0 as ComfyUI."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        log_min = math.log(float(self.sigma_min))
        return math.exp((math.log(float(self.sigma_max)) - log_min) * (1.0 - percent) + log_min)

    def summary(self) -> str:
        return (f"continuous EDM {self.prediction} [{self.min_sigma:g}, {self.max_sigma:g}], "
                f"sigma_data {self.sigma_data:g}")


@dataclass(frozen=True)
class ModelSamplingContinuousV(ModelSamplingContinuousEDM):
    """Continuous v-prediction: timestep = ``2 / pi * atan(sigma)`` (ComfyUI's defaults: sigma
    range [0.03, 500])."""

    min_sigma: float = 0.03
    max_sigma: float = 500.0

    def timestep(self, sigma: Tensor) -> Tensor:
        return sigma.atan() / math.pi * 2

    def sigma(self, timestep: Tensor) -> Tensor:
        return (timestep * math.pi / 2).tan()

    def summary(self) -> str:
        return f"continuous V [{self.min_sigma:g}, {self.max_sigma:g}]"


@dataclass(frozen=True)
class ModelSamplingCosmosRFlow(ModelSamplingContinuousEDM):
    """Rectified flow in sigma form (ComfyUI's ``cosmos_rflow``): timestep = sigma / (sigma + 1),
    capped at sigma_max on the way back."""

    prediction: Prediction = "cosmos_rflow"  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.prediction != "cosmos_rflow":
            raise ValueError(f"prediction must be 'cosmos_rflow', got {self.prediction!r}")
        _check_range(self.min_sigma, self.max_sigma)

    def timestep(self, sigma: Tensor) -> Tensor:
        return sigma / (sigma + 1)

    def sigma(self, timestep: Tensor) -> Tensor:
        sigma_max = self.sigma_max.to(timestep)
        capped = timestep >= sigma_max / (sigma_max + 1)
        return torch.where(capped, sigma_max, timestep / (1 - timestep))

    def summary(self) -> str:
        return f"continuous rectified flow [{self.min_sigma:g}, {self.max_sigma:g}]"
