"""Stochastic samplers reproduce the data distribution's moments on a large batch.

Samples start from the exact noisy marginal at the schedule's first sigma and use the noise
ComfyUI would use (seeded Gaussian or Brownian tree, from ``make_noise_sampler``). Targets: the
bimodal mixture's mean, variance and mass of its left mode. Each check is also run with the noise
scaled by 0.8 (a plausible bug) and must then fail, so the tolerances discriminate.
"""

from __future__ import annotations

import math

import pytest
import torch
from _sampling_testlib import GaussianData, GaussianMixture, replay_noise, run_sampler
from torch import Tensor

from diffusion.sampling import SAMPLERS, ModelSamplingDiscrete, ksampler_sigmas, make_noise_sampler

SD1 = ModelSamplingDiscrete()
MIXTURE = GaussianMixture()
BATCH = 12000
LEFT_MODE_SPLIT = -0.25  # between the modes at -2 and 1.5

# Steps per sampler: first-order ancestral samplers need more steps for the same bias.
STOCHASTIC_STEPS = {
    "euler_ancestral": 100,
    "ddpm": 100,
    "dpm_2_ancestral": 30,
    "dpmpp_2s_ancestral": 30,
    "dpmpp_sde": 30,
    "dpmpp_2m_sde": 30,
    "dpmpp_3m_sde": 30,
    # ComfyUI's later stochastic samplers (the *_gpu trees coincide with the CPU ones here;
    # CFG++ samplers run with uncond = the guided prediction, i.e. cfg 1).
    "dpmpp_sde_gpu": 30,
    "dpmpp_2m_sde_heun": 30,
    "dpmpp_3m_sde_gpu": 30,
    "euler_ancestral_cfg_pp": 100,
    "dpmpp_2s_ancestral_cfg_pp": 30,
    "res_multistep_ancestral": 100,
    "res_multistep_ancestral_cfg_pp": 100,
    "er_sde": 30,
    "seeds_2": 30,
    "seeds_3": 30,
    "sa_solver": 30,
    "sa_solver_pece": 30,
}


def _mixture_moments_ok(samples: Tensor) -> tuple[bool, tuple[float, float, float]]:
    mean, var = float(samples.mean()), float(samples.var())
    left = float((samples < LEFT_MODE_SPLIT).double().mean())
    ok = (
        abs(mean - MIXTURE.mean) <= 0.05
        and abs(var / MIXTURE.variance - 1) <= 0.06
        and abs(left - MIXTURE.weights[0]) <= 0.02
    )
    return ok, (mean, var, left)


def _run(name: str, s_noise: float) -> Tensor:
    sigmas = ksampler_sigmas(SD1, name, "karras", STOCHASTIC_STEPS[name]).double()
    x = MIXTURE.sample_noisy((BATCH,), float(sigmas[0]), seed=1)
    noise_sampler = make_noise_sampler(name, x, sigmas, seed=5)
    assert noise_sampler is not None
    if s_noise != 1.0:
        inner = noise_sampler
        noise_sampler = lambda s, s_next: inner(s, s_next) * s_noise  # noqa: E731
    return run_sampler(SAMPLERS[name], MIXTURE.denoise, x, sigmas, noise_sampler=noise_sampler)


@pytest.mark.parametrize("name", STOCHASTIC_STEPS)
def test_stochastic_sampler_matches_mixture_moments(name: str) -> None:
    ok, moments = _mixture_moments_ok(_run(name, 1.0))
    assert ok, (name, moments, (MIXTURE.mean, MIXTURE.variance, MIXTURE.weights[0]))
    broken_ok, broken = _mixture_moments_ok(_run(name, 0.8))
    assert not broken_ok, (name, "tolerances too loose to catch 0.8x noise", broken)


def test_ddpm_is_euler_ancestral_in_other_coordinates() -> None:
    # DDPM's posterior step (VP coordinates, ComfyUI's formula) and Euler ancestral (k-diffusion's
    # formula) are the same map; two independent derivations must agree.
    sigmas = ksampler_sigmas(SD1, "ddpm", "normal", 12).double()
    x = MIXTURE.sample_noisy((64,), float(sigmas[0]), seed=2)
    ddpm = SAMPLERS["ddpm"].sample(MIXTURE.denoise, x, sigmas, noise_sampler=replay_noise(x, 3))
    euler_a = SAMPLERS["euler_ancestral"].sample(
        MIXTURE.denoise, x, sigmas, noise_sampler=replay_noise(x, 3)
    )
    torch.testing.assert_close(ddpm, euler_a, rtol=1e-9, atol=1e-9)


def _lcm_expected_variance(data: GaussianData, sigmas: Tensor) -> float:
    """Exact output variance of LCM with the exact Gaussian denoiser (everything is linear):
    after the step at sigma_i, Var = a_i^2 Var + sigma_{i+1}^2 with a_i = s0^2 / (s0^2 + sigma_i^2).
    """
    var = data.s0**2 + float(sigmas[0]) ** 2
    for i in range(len(sigmas) - 1):
        a = data.s0**2 / (data.s0**2 + float(sigmas[i]) ** 2)
        var = a * a * var + float(sigmas[i + 1]) ** 2
    return var


@pytest.mark.parametrize("steps", [1, 4, 8])
def test_lcm_matches_its_exact_gaussian_moments(steps: int) -> None:
    data = GaussianData()
    sigmas = ksampler_sigmas(SD1, "lcm", "sgm_uniform", steps).double()
    n = 40000
    x = data.sample_noisy((n,), float(sigmas[0]), seed=4)
    noise_sampler = make_noise_sampler("lcm", x, sigmas, seed=9)
    out = SAMPLERS["lcm"].sample(data.denoise, x, sigmas, noise_sampler=noise_sampler)
    expected_var = _lcm_expected_variance(data, sigmas)
    # 5 standard errors of the sample mean / variance of a Gaussian.
    assert abs(float(out.mean()) - data.mu) <= 5 * math.sqrt(expected_var / n)
    assert abs(float(out.var()) / expected_var - 1) <= 5 * math.sqrt(2 / n)
    if steps > 1:  # without the re-noising the variance would be far smaller
        silent = SAMPLERS["lcm"].sample(
            data.denoise, x, sigmas, noise_sampler=lambda s, t: torch.zeros_like(x)
        )
        assert float(silent.var()) < 0.5 * expected_var
