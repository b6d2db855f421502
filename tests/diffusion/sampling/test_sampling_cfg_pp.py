"""CFG++ samplers really use the unconditional prediction.

A toy guided model: the guided x0 is the exact denoiser of one Gaussian, the unconditional x0
that of another (what a guider records in the run's UncondTap). With the unconditional equal to
the guided prediction (cfg 1) every CFG++ sampler is its base sampler (k-diffusion's where it has
it); with a different one it follows CFG++ (Chung et al. 2024, arXiv:2406.08070, Alg. 1:
renoise ``x0_guided + sigma_next * eps_uncond``), checked by hand for euler_cfg_pp and
dpmpp_2m_cfg_pp."""

from __future__ import annotations

import pytest
from _sampling_testlib import GaussianData, kdiffusion_sampling, replay_noise, run_sampler
from torch import Tensor

from diffusion.sampling import SAMPLERS, UncondTap
from diffusion.sampling.schedules import sigmas_karras

GUIDED, UNCOND = GaussianData(mu=0.5, s0=0.8), GaussianData(mu=-1.0, s0=1.3)
SHAPE = (4, 2, 3, 3)
SIGMAS = sigmas_karras(8, 0.03, 14.6).double()
X = GUIDED.sample_noisy(SHAPE, float(SIGMAS[0]), seed=2)
BASE = {
    "euler_cfg_pp": "euler",
    "euler_ancestral_cfg_pp": "euler_ancestral",
    "dpmpp_2s_ancestral_cfg_pp": "dpmpp_2s_ancestral",
    "dpmpp_2m_cfg_pp": "dpmpp_2m",
    "res_multistep_cfg_pp": "res_multistep",
    "res_multistep_ancestral_cfg_pp": "res_multistep_ancestral",
    "gradient_estimation_cfg_pp": "gradient_estimation",
}
IN_KDIFFUSION = {"euler", "euler_ancestral", "dpmpp_2s_ancestral", "dpmpp_2m"}


def _run(name: str, uncond_model: object = None) -> Tensor:
    return run_sampler(SAMPLERS[name], GUIDED.denoise, X, SIGMAS,
                       noise_sampler=replay_noise(X, 5), uncond_model=uncond_model)  # type: ignore[arg-type]


def _max_diff(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max())


@pytest.mark.parametrize("name", BASE)
def test_cfg_pp_is_its_base_sampler_at_cfg_1(name: str) -> None:
    base = BASE[name]
    if base in IN_KDIFFUSION:
        kwargs = {"noise_sampler": replay_noise(X, 5)} if SAMPLERS[base].stochastic else {}
        ref = getattr(kdiffusion_sampling(), f"sample_{base}")(GUIDED.denoise, X, SIGMAS,
                                                               disable=True, **kwargs)
    else:
        ref = _run(base)
    assert _max_diff(_run(name), ref) <= 1e-9
    assert _max_diff(_run(name, UNCOND.denoise), ref) > 1e-3  # the uncond prediction matters


def _d(model: GaussianData, x: Tensor, sigma: Tensor) -> Tensor:
    return model.denoise(x, sigma.expand(SHAPE[0]))


def test_euler_cfg_pp_by_hand() -> None:
    x = X
    for i in range(len(SIGMAS) - 1):
        s, s_next = SIGMAS[i], SIGMAS[i + 1]
        eps_uncond = (x - _d(UNCOND, x, s)) / s
        x = _d(GUIDED, x, s) + s_next * eps_uncond
    assert _max_diff(_run("euler_cfg_pp", UNCOND.denoise), x) <= 1e-12


def test_dpmpp_2m_cfg_pp_by_hand() -> None:
    x, old_uncond = X, None
    for i in range(len(SIGMAS) - 1):
        s, s_next = SIGMAS[i], SIGMAS[i + 1]
        guided, uncond = _d(GUIDED, x, s), _d(UNCOND, x, s)
        x_next = guided + s_next / s * (x - uncond)  # the CFG++ DDIM step
        if old_uncond is not None and s_next > 0:
            h, h_last = (s / s_next).log(), (SIGMAS[i - 1] / s).log()
            # second-order correction of DPM-Solver++(2M), on guided vs previous uncond
            x_next = x_next + (1 - s_next / s) * h / (2 * h_last) * (guided - old_uncond)
        x, old_uncond = x_next, uncond
    assert _max_diff(_run("dpmpp_2m_cfg_pp", UNCOND.denoise), x) <= 1e-12


def test_a_cfg_pp_sampler_without_the_tap_names_itself() -> None:
    with pytest.raises(ValueError, match="euler_cfg_pp.*uncond"):
        SAMPLERS["euler_cfg_pp"].sample(GUIDED.denoise, X, SIGMAS)
    with pytest.raises(ValueError, match="euler_cfg_pp.*UncondTap"):
        SAMPLERS["euler_cfg_pp"].run(GUIDED.denoise, X, SIGMAS, seed=0)
    with pytest.raises(RuntimeError, match="dpmpp_2m_cfg_pp"):
        SAMPLERS["dpmpp_2m_cfg_pp"].sample(GUIDED.denoise, X, SIGMAS, uncond=UncondTap())
