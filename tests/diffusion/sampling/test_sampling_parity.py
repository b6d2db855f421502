"""Our samplers against reference implementations on analytic denoisers, float64, <= 1e-6.

References: k-diffusion 0.1.1's ``sampling.py`` (euler ... dpmpp_3m_sde) and diffusers'
``UniPCMultistepScheduler`` (uni_pc, uni_pc_bh2). Stochastic samplers are compared with the
same replayed noise stream on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from _sampling_testlib import GaussianData, GaussianMixture, kdiffusion_sampling, replay_noise
from torch import Tensor

from diffusion.sampling import SAMPLERS
from diffusion.sampling.schedules import sigmas_karras

DATA = {"gaussian": GaussianData(), "mixture": GaussianMixture()}
SHAPE = (8, 2, 3, 3)  # (B, C, H, W)
TOL = 1e-6


def _setup(data_name: str, steps: int, terminal_zero: bool = True) -> tuple[Any, Tensor, Tensor]:
    data = DATA[data_name]
    sigmas = sigmas_karras(steps, 0.03, 14.6).double()
    if not terminal_zero:
        sigmas = sigmas[:-1]
    x = data.sample_noisy(SHAPE, float(sigmas[0]), seed=3)
    return data, sigmas, x


def _max_diff(a: Tensor, b: Tensor) -> float:
    assert a.shape == b.shape and torch.isfinite(a).all()
    return float((a - b).abs().max())


@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize("name", ["euler", "heun", "dpm_2", "dpmpp_2m", "ddim"])
def test_deterministic_sampler_matches_kdiffusion(data_name: str, name: str) -> None:
    kd = kdiffusion_sampling()
    data, sigmas, x = _setup(data_name, 12)
    ours = SAMPLERS[name].sample(data.denoise, x, sigmas)
    reference_name = "euler" if name == "ddim" else name
    reference = getattr(kd, f"sample_{reference_name}")(data.denoise, x, sigmas, disable=True)
    assert _max_diff(ours, reference) <= TOL


@pytest.mark.parametrize("data_name", DATA)
def test_lms_matches_kdiffusion_and_ends_on_the_denoised(data_name: str) -> None:
    kd = kdiffusion_sampling()
    lms = SAMPLERS["lms"].sample
    data, sigmas, x = _setup(data_name, 12, terminal_zero=False)
    assert _max_diff(lms(data.denoise, x, sigmas), kd.sample_lms(data.denoise, x, sigmas)) <= TOL
    # ComfyUI's lms takes the step to sigma = 0 as "x = denoised" (k-diffusion integrates it).
    with_zero = torch.cat([sigmas, sigmas.new_zeros(1)])
    last = kd.sample_lms(data.denoise, x, sigmas)
    expected = data.denoise(last, sigmas[-1:].expand(SHAPE[0]))
    assert _max_diff(lms(data.denoise, x, with_zero), expected) <= TOL


STOCHASTIC = ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral"]
SDE = ["dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"]


@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize("name", STOCHASTIC + SDE)
def test_stochastic_sampler_matches_kdiffusion_with_shared_noise(data_name: str, name: str) -> None:
    kd = kdiffusion_sampling()
    data, sigmas, x = _setup(data_name, 10)
    ours = SAMPLERS[name].sample(data.denoise, x, sigmas, noise_sampler=replay_noise(x, 11))
    reference = getattr(kd, f"sample_{name}")(
        data.denoise, x, sigmas, disable=True, noise_sampler=replay_noise(x, 11)
    )
    assert _max_diff(ours, reference) <= TOL
    other = SAMPLERS[name].sample(data.denoise, x, sigmas, noise_sampler=replay_noise(x, 12))
    assert _max_diff(ours, other) > 1e-3  # the noise matters, so the match above is not vacuous


def _diffusers_unipc(
    denoise: Callable[..., Tensor], x: Tensor, sigmas: Tensor, variant: str
) -> Tensor:
    """diffusers' UniPC (data prediction, order 3, lower order final) run on our sigmas."""
    schedulers = pytest.importorskip("diffusers.schedulers.scheduling_unipc_multistep")
    steps = len(sigmas) - 1
    scheduler = schedulers.UniPCMultistepScheduler(
        solver_order=3, solver_type=variant, lower_order_final=True, predict_x0=True
    )
    scheduler.set_timesteps(steps)
    sigmas = sigmas.clone()
    sigmas[-1] = 0.001  # ComfyUI's stand-in for sigma = 0
    scheduler.sigmas = sigmas
    scheduler.timesteps = torch.arange(steps)
    x_vp = x / (1 + sigmas[0] ** 2).sqrt()
    for k in range(steps):
        x_ve = x_vp * (1 + sigmas[k] ** 2).sqrt()
        eps = (x_ve - denoise(x_ve, sigmas[k].expand(x.shape[0]))) / sigmas[k]
        x_vp = scheduler.step(eps, k, x_vp).prev_sample
    return x_vp * (1 + sigmas[-1] ** 2).sqrt()


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # diffusers
@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize(("name", "variant"), [("uni_pc", "bh1"), ("uni_pc_bh2", "bh2")])
@pytest.mark.parametrize("steps", [3, 10])
def test_unipc_matches_diffusers(data_name: str, name: str, variant: str, steps: int) -> None:
    data, sigmas, x = _setup(data_name, steps)
    reference = _diffusers_unipc(data.denoise, x, sigmas, variant)
    assert _max_diff(SAMPLERS[name].sample(data.denoise, x, sigmas), reference) <= TOL


def test_unipc_variants_differ() -> None:
    data, sigmas, x = _setup("mixture", 8)
    bh1 = SAMPLERS["uni_pc"].sample(data.denoise, x, sigmas)
    bh2 = SAMPLERS["uni_pc_bh2"].sample(data.denoise, x, sigmas)
    assert _max_diff(bh1, bh2) > 1e-4
