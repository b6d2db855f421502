"""Discrete model sampling: sigma table, sigma<->timestep, eps / v scalings, zero terminal SNR."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _sampling_testlib import F64, GaussianData

from diffusion.sampling import ModelSamplingDiscrete, make_denoiser

SD1 = ModelSamplingDiscrete()


def test_sigma_table_is_scaled_linear_betas() -> None:
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    alphas_cumprod = np.cumprod(1 - betas)
    expected = np.sqrt((1 - alphas_cumprod) / alphas_cumprod)
    assert SD1.sigmas.shape == (1000,) and SD1.sigmas.dtype == torch.float32
    np.testing.assert_allclose(SD1.sigmas_float64.numpy(), expected, rtol=1e-12)
    assert torch.equal(SD1.sigmas, SD1.sigmas_float64.float())


def test_timestep_and_sigma_invert_on_the_table() -> None:
    index = torch.arange(1000)
    assert torch.equal(SD1.timestep(SD1.sigmas), index)
    torch.testing.assert_close(SD1.sigma(index.float()), SD1.sigmas, rtol=1e-6, atol=0)
    # Fractional timesteps interpolate log sigma: the midpoint is the geometric mean.
    mid = SD1.sigma(torch.tensor([10.5, 500.25]))
    lo, hi = SD1.sigmas_float64[[10, 500]], SD1.sigmas_float64[[11, 501]]
    expected = torch.exp(torch.stack([0.5 * lo[0].log() + 0.5 * hi[0].log(),
                                      0.75 * lo[1].log() + 0.25 * hi[1].log()]))  # fmt: skip
    torch.testing.assert_close(mid.double(), expected, rtol=1e-6, atol=0)
    # Out-of-table timesteps clamp; timestep() picks the nearest entry in log sigma.
    assert float(SD1.sigma(torch.tensor(1500.0))) == float(SD1.sigma(torch.tensor(999.0)))
    between = (SD1.sigmas_float64[41] * SD1.sigmas_float64[42]).sqrt() * 1.001
    assert int(SD1.timestep(between.float())) == 42


def test_percent_to_sigma() -> None:
    assert SD1.percent_to_sigma(0.0) == 999999999.9
    assert SD1.percent_to_sigma(1.0) == 0.0
    assert SD1.percent_to_sigma(0.5) == float(SD1.sigma(torch.tensor(499.5)))


@pytest.mark.parametrize("prediction", ["eps", "v_prediction"])
def test_calculate_denoised_inverts_the_training_target(prediction: str) -> None:
    ms = ModelSamplingDiscrete(prediction=prediction)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 4, 6, 6, generator=gen, dtype=F64)
    eps = torch.randn(3, 4, 6, 6, generator=gen, dtype=F64)
    sigma = torch.tensor([0.1, 2.0, 14.0], dtype=F64)
    s = sigma.view(3, 1, 1, 1)  # (B, 1, 1, 1)
    x = x0 + s * eps
    alpha, std = 1 / (1 + s**2).sqrt(), s / (1 + s**2).sqrt()
    target = eps if prediction == "eps" else alpha * eps - std * x0  # v = alpha*eps - sigma_t*x0
    torch.testing.assert_close(ms.calculate_input(sigma, x), x / (1 + s**2).sqrt())
    torch.testing.assert_close(ms.calculate_denoised(sigma, target, x), x0)


@pytest.mark.parametrize("prediction", ["eps", "v_prediction"])
def test_make_denoiser_wraps_a_network_like_comfyui(prediction: str) -> None:
    ms = ModelSamplingDiscrete(prediction=prediction)  # type: ignore[arg-type]
    data = GaussianData()
    seen_timesteps: list[torch.Tensor] = []

    def network(x_in: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        seen_timesteps.append(timestep)
        sigma = ms.sigmas_float64[timestep.long()].view(-1, 1, 1, 1)
        x = x_in * (1 + sigma**2).sqrt()  # undo c_in
        x0 = data.denoise(x, sigma.flatten())
        eps = (x - x0) / sigma
        if prediction == "eps":
            return eps
        return (eps - sigma * x0) / (1 + sigma**2).sqrt()

    denoiser = make_denoiser(ms, network)
    sigma = ms.sigmas_float64[[3, 400, 999]]
    x = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    torch.testing.assert_close(denoiser(x, sigma), data.denoise(x, sigma))
    assert seen_timesteps[0].tolist() == [3.0, 400.0, 999.0]


def test_noise_scaling_and_max_denoise() -> None:
    noise, latent = torch.ones(1, 4, 2, 2), torch.full((1, 4, 2, 2), 0.5)
    sigma = torch.tensor(3.0)
    assert torch.equal(SD1.noise_scaling(sigma, noise, latent), noise * 3.0 + latent)
    full = SD1.noise_scaling(sigma, noise, latent, max_denoise=True)
    torch.testing.assert_close(full, noise * math.sqrt(10.0) + latent)
    assert SD1.is_max_denoise(SD1.sigmas.flip(0)) and not SD1.is_max_denoise(
        torch.tensor([5.0, 0.0])
    )
    assert torch.equal(SD1.inverse_noise_scaling(sigma, latent), latent)


def test_zero_terminal_snr_matches_diffusers_rescale() -> None:
    ddim = pytest.importorskip("diffusers.schedulers.scheduling_ddim")
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=F64) ** 2
    alphas_cumprod = torch.cumprod(1 - ddim.rescale_zero_terminal_snr(betas), dim=0)
    expected = ((1 - alphas_cumprod) / alphas_cumprod).sqrt()
    zsnr = ModelSamplingDiscrete(zsnr=True)
    torch.testing.assert_close(zsnr.sigmas_float64[:-1], expected[:-1], rtol=1e-9, atol=0)
    assert math.isinf(float(expected[-1]))
    assert float(zsnr.sigma_max) == pytest.approx(4518.8, rel=1e-4)  # alpha_bar = 4.897e-8
    assert float(zsnr.sigma_min) == float(SD1.sigma_min)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"prediction": "edm"}, "prediction"),  # edm is continuous-only
        ({"num_timesteps": 1}, "num_timesteps"),
        ({"linear_start": 0.02, "linear_end": 0.01}, "linear_start"),
    ],
)
def test_bad_config_is_named(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ModelSamplingDiscrete(**kwargs)  # type: ignore[arg-type]


def test_model_sampling_is_a_hashable_value() -> None:
    assert ModelSamplingDiscrete() == SD1 and hash(ModelSamplingDiscrete()) == hash(SD1)
    assert ModelSamplingDiscrete(prediction="v_prediction") != SD1
