"""ModelSamplingContinuousEDM and ModelSamplingContinuousV (ComfyUI's ``nodes_model_advanced``):
sample a model as a continuous-time one (CosXL: v_prediction on EDM sigmas; Playground v2.5:
``edm_playground_v2.5``, which also switches to its latent statistics)."""

from __future__ import annotations

import dataclasses
from typing import Any

from diffusion.latent_format import SDXL_PLAYGROUND_2_5
from diffusion.sampling import ModelSampling
from diffusion.sampling import continuous_sampling as continuous
from nodes.api import MODEL, Combo, Float, Node, Output, RunContext
from nodes.payloads import DiffusionModel
from nodes.sampling.ksampler import model_input

EDM_SAMPLINGS = ("v_prediction", "edm", "edm_playground_v2.5", "eps", "cosmos_rflow")
EDM_SIGMA_DATA = 0.5  # EDM's and Playground v2.5's sigma_data


def _sigma(name: str, default: float) -> Float:
    return Float(name, default=default, min=0.0, max=1000.0, step=0.001,
                 tooltip=f"The model's {name.replace('_', ' ')}.")


def edm_sampling(sampling: str, sigma_min: float, sigma_max: float) -> ModelSampling:
    """The model sampling ComfyUI's ModelSamplingContinuousEDM builds for ``sampling``."""
    if sampling not in EDM_SAMPLINGS:
        raise ValueError(f"ModelSamplingContinuousEDM: input 'sampling' must be one of "
                         f"{list(EDM_SAMPLINGS)}, got {sampling!r}")
    if sampling == "cosmos_rflow":
        return continuous.ModelSamplingCosmosRFlow(min_sigma=sigma_min, max_sigma=sigma_max)
    if sampling in ("edm", "edm_playground_v2.5"):
        return continuous.ModelSamplingContinuousEDM("edm", sigma_min, sigma_max, EDM_SIGMA_DATA)
    return continuous.ModelSamplingContinuousEDM(
        sampling, sigma_min, sigma_max)  # type: ignore[arg-type]


class ModelSamplingContinuousEDM(Node):
    """Samples the model with continuous EDM noise levels and the chosen prediction type."""

    display_name = "ModelSamplingContinuousEDM"
    category = "advanced/model"
    inputs = (
        model_input(),
        Combo("sampling", choices=EDM_SAMPLINGS, tooltip="What the network predicts."),
        _sigma("sigma_max", 120.0),
        _sigma("sigma_min", 0.002),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, sampling: str, sigma_max: float,
            sigma_min: float) -> tuple[Any, ...]:
        patched = dataclasses.replace(model, model_sampling=edm_sampling(sampling, sigma_min,
                                                                         sigma_max))
        if sampling == "edm_playground_v2.5":
            patched = dataclasses.replace(patched, latent_format=SDXL_PLAYGROUND_2_5)
        return (patched,)


class ModelSamplingContinuousV(Node):
    """Samples the model as a continuous-time v-prediction model."""

    display_name = "ModelSamplingContinuousV"
    category = "advanced/model"
    inputs = (
        model_input(),
        Combo("sampling", choices=("v_prediction",), tooltip="What the network predicts."),
        _sigma("sigma_max", 500.0),
        _sigma("sigma_min", 0.03),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, sampling: str, sigma_max: float,
            sigma_min: float) -> tuple[Any, ...]:
        if sampling != "v_prediction":
            raise ValueError(f"ModelSamplingContinuousV: input 'sampling' must be "
                             f"'v_prediction', got {sampling!r}")
        ms = continuous.ModelSamplingContinuousV(min_sigma=sigma_min, max_sigma=sigma_max)
        return (dataclasses.replace(model, model_sampling=ms),)


MODEL_SAMPLING_NODES: list[type[Node]] = [ModelSamplingContinuousEDM, ModelSamplingContinuousV]
