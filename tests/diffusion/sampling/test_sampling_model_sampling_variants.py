"""The other model samplings (ComfyUI's ModelSamplingDiscrete lcm / x0 / img_to_img modes,
ModelSamplingContinuousEDM / ContinuousV / cosmos rectified flow): sigma <-> timestep round trips,
their tables and percent_to_sigma, and x0 from each prediction type against hand formulas."""

from __future__ import annotations

import math

import pytest
import torch
from _sampling_testlib import F64

from diffusion.sampling import (
    ModelSamplingContinuousEDM,
    ModelSamplingContinuousV,
    ModelSamplingCosmosRFlow,
    ModelSamplingDiscrete,
    ModelSamplingDiscreteDistilled,
)
from diffusion.sampling.schedules import calculate_sigmas

SD1 = ModelSamplingDiscrete()
GEN = torch.Generator().manual_seed(0)
X = torch.randn(2, 4, 3, 3, generator=GEN, dtype=F64)
OUT = torch.randn(2, 4, 3, 3, generator=GEN, dtype=F64)
SIGMA = torch.tensor([0.5, 3.0], dtype=F64)
S = SIGMA.view(2, 1, 1, 1)


@pytest.mark.parametrize("prediction", ["x0", "img_to_img"])
def test_x0_predictions_return_the_output(prediction: str) -> None:
    ms = ModelSamplingDiscrete(prediction=prediction)  # type: ignore[arg-type]
    assert torch.equal(ms.calculate_denoised(SIGMA, OUT, X), OUT)
    expected_in = X if prediction == "img_to_img" else X / (S**2 + 1).sqrt()
    torch.testing.assert_close(ms.calculate_input(SIGMA, X), expected_in, rtol=0, atol=0)
    assert torch.equal(ms.sigmas, SD1.sigmas)  # same schedule as eps
    assert ms.summary() == f"discrete {prediction}"


def test_lcm_uses_50_teacher_timesteps_and_the_consistency_blend() -> None:
    lcm = ModelSamplingDiscreteDistilled()
    picked = torch.arange(19, 1000, 20)  # 19, 39, ..., 999
    assert torch.equal(lcm.sigmas, SD1.sigmas[picked])
    assert torch.equal(lcm.timestep(lcm.sigmas), picked)
    torch.testing.assert_close(lcm.sigma(picked.float()), lcm.sigmas, rtol=1e-6, atol=0)
    assert lcm.percent_to_sigma(0.5) == float(lcm.sigma(torch.tensor(499.5)))
    sigma = lcm.sigmas[[10, 40]].double()
    t = (torch.tensor([10, 40]) * 20 + 19).double().view(2, 1, 1, 1) * 10  # timestep scaling 10
    c_skip, c_out = 0.25 / (t**2 + 0.25), t / (t**2 + 0.25).sqrt()
    x0 = X - OUT * sigma.view(2, 1, 1, 1)
    torch.testing.assert_close(lcm.calculate_denoised(sigma, OUT, X), c_out * x0 + c_skip * X)
    zsnr = ModelSamplingDiscreteDistilled(zsnr=True)
    assert torch.equal(zsnr.sigmas, ModelSamplingDiscrete(zsnr=True).sigmas[picked])
    with pytest.raises(ValueError, match="lcm"):
        ModelSamplingDiscreteDistilled(prediction="eps")


@pytest.mark.parametrize("kind", ["edm", "v", "cosmos"])
def test_continuous_sigma_timestep_round_trip(kind: str) -> None:
    ms = {"edm": ModelSamplingContinuousEDM(), "v": ModelSamplingContinuousV(),
          "cosmos": ModelSamplingCosmosRFlow()}[kind]
    sigma = torch.tensor([0.01, 0.7, 5.0, 90.0], dtype=F64)
    expected_t = {"edm": 0.25 * sigma.log(), "v": sigma.atan() * 2 / math.pi,
                  "cosmos": sigma / (sigma + 1)}[kind]
    torch.testing.assert_close(ms.timestep(sigma), expected_t)
    torch.testing.assert_close(ms.sigma(ms.timestep(sigma)), sigma)
    low, high = ms.min_sigma, ms.max_sigma
    assert ms.sigmas.shape == (1000,) and ms.sigmas.dtype == torch.float32
    assert float(ms.sigma_min) == pytest.approx(low) and float(ms.sigma_max) == pytest.approx(high)
    ratios = ms.sigmas[1:].double() / ms.sigmas[:-1].double()
    expected_ratio = torch.full_like(ratios, (high / low) ** (1 / 999))
    torch.testing.assert_close(ratios, expected_ratio, rtol=2e-6, atol=0)  # float32 table
    mid = math.exp((math.log(float(ms.sigma_max)) + math.log(float(ms.sigma_min))) / 2)
    assert ms.percent_to_sigma(0.5) == pytest.approx(mid, rel=1e-12)
    assert ms.percent_to_sigma(0.0) == 999999999.9 and ms.percent_to_sigma(1.0) == 0.0


def test_continuous_defaults_and_rflow_cap() -> None:
    assert (ModelSamplingContinuousEDM().min_sigma, ModelSamplingContinuousEDM().max_sigma) == \
        (0.002, 120.0)
    assert (ModelSamplingContinuousV().min_sigma, ModelSamplingContinuousV().max_sigma) == \
        (0.03, 500.0)
    rflow = ModelSamplingCosmosRFlow()
    assert torch.equal(rflow.sigma(torch.tensor([0.9999999])), rflow.sigma_max.view(1))
    with pytest.raises(ValueError, match="sigma_min"):
        ModelSamplingContinuousEDM(min_sigma=5.0, max_sigma=1.0)
    with pytest.raises(ValueError, match="prediction"):
        ModelSamplingContinuousEDM(prediction="lcm")  # type: ignore[arg-type]


def test_edm_prediction_inverts_its_training_target() -> None:
    # EDM (Karras et al. 2022, Table 1): D = c_skip x + c_out F, c_skip = sd^2/(s^2+sd^2),
    # c_out = s sd / sqrt(s^2+sd^2); the network output for x0 is F = (x0 - c_skip x) / c_out.
    ms = ModelSamplingContinuousEDM(prediction="edm", sigma_data=0.5)
    x0 = OUT
    x = x0 + S * X
    c_skip, c_out = 0.25 / (S**2 + 0.25), S * 0.5 / (S**2 + 0.25).sqrt()
    torch.testing.assert_close(ms.calculate_denoised(SIGMA, (x0 - c_skip * x) / c_out, x), x0)
    torch.testing.assert_close(ms.calculate_input(SIGMA, x), x / (S**2 + 0.25).sqrt())


def test_rflow_scalings_and_noise() -> None:
    ms = ModelSamplingCosmosRFlow()
    t = S / (S + 1)
    torch.testing.assert_close(ms.calculate_input(SIGMA, X), X * (1 - t))
    torch.testing.assert_close(ms.calculate_denoised(SIGMA, OUT, X), X * (1 - t) - OUT * t)
    noise, latent = OUT, X
    # ComfyUI scales rectified-flow start noise by sigma even at full denoise.
    assert torch.equal(ms.noise_scaling(SIGMA, noise, latent, max_denoise=True),
                       noise * S + latent)
    edm = ModelSamplingContinuousEDM()
    torch.testing.assert_close(edm.noise_scaling(SIGMA, noise, latent, max_denoise=True),
                               noise * (1 + S**2).sqrt() + latent)


@pytest.mark.parametrize("scheduler", ["normal", "karras", "simple", "kl_optimal"])
def test_schedulers_run_on_continuous_sampling(scheduler: str) -> None:
    ms = ModelSamplingContinuousEDM()
    sigmas = calculate_sigmas(ms, scheduler, 6)
    assert sigmas.shape == (7,) and float(sigmas[-1]) == 0.0
    assert float(sigmas[0]) == pytest.approx(120.0, rel=1e-5)
    assert bool((sigmas[:-1] > sigmas[1:]).all())
