"""The sampler table, the one sampler signature, cancellation and KSampler's sigma recipes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from _sampling_testlib import GaussianMixture, counting, run_sampler

from diffusion.sampling import (
    SAMPLER_NAMES,
    SAMPLERS,
    ModelSamplingDiscrete,
    advanced_sigmas,
    calculate_sigmas,
    get_sampler,
    ksampler_sigmas,
    make_noise_sampler,
)
from diffusion.sampling.ode_samplers import sample_euler

SD1 = ModelSamplingDiscrete()
DATA = GaussianMixture()
COMFYUI_SAMPLERS = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis",
    "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp",
    "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc",
    "uni_pc_bh2",
)  # fmt: skip  (ComfyUI v0.3.64's KSampler list, in its order)
# Model calls per step (the most any step makes; UniPC reuses its corrector's evaluation).
CALLS_PER_STEP = {
    "heun": 2,
    "heunpp2": 3,
    "dpm_2": 2,
    "dpm_2_ancestral": 2,
    "dpm_fast": 3,
    "dpm_adaptive": 3,
    "dpmpp_2s_ancestral": 2,
    "dpmpp_2s_ancestral_cfg_pp": 2,
    "dpmpp_sde": 2,
    "dpmpp_sde_gpu": 2,
    "seeds_2": 2,
    "seeds_3": 3,
    "sa_solver_pece": 2,
}
CFG_PP = {n for n in COMFYUI_SAMPLERS if "cfg_pp" in n}


def test_registry_has_exactly_comfyui_names_with_their_noise() -> None:
    assert SAMPLER_NAMES == COMFYUI_SAMPLERS
    brownian = {n for n, s in SAMPLERS.items() if s.noise == "brownian"}
    on_device = {n for n, s in SAMPLERS.items() if s.noise == "brownian_device"}
    gaussian = {n for n, s in SAMPLERS.items() if s.noise == "gaussian"}
    assert brownian == {"dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde"}
    assert on_device == {f"{n}_gpu" for n in brownian}
    assert gaussian == {"euler_ancestral", "euler_ancestral_cfg_pp", "dpm_2_ancestral",
                        "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp", "ddpm", "lcm",
                        "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp", "er_sde",
                        "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece"}
    discard = {n for n, s in SAMPLERS.items() if s.discard_penultimate_sigma}
    assert discard == {"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"}
    assert {n for n, s in SAMPLERS.items() if s.needs_uncond} == CFG_PP
    assert {n for n, s in SAMPLERS.items() if s.needs_model_sampling} == {"sa_solver",
                                                                           "sa_solver_pece"}
    ddim = get_sampler("ddim")
    assert ddim.sample is sample_euler and ddim.paired_scheduler == "ddim_uniform"
    assert not ddim.stochastic and SAMPLERS["lcm"].stochastic


def test_unknown_sampler_names_value_and_choices() -> None:
    with pytest.raises(ValueError, match=r"'eulr'.*'ddim'.*'uni_pc_bh2'"):
        get_sampler("eulr")


def _run(name: str, steps: int, seed: int = 0, callback: Any = None) -> torch.Tensor:
    sigmas = ksampler_sigmas(SD1, name, "karras", steps).double()
    x = DATA.sample_noisy((2, 4, 5, 5), float(sigmas[0]), seed=7)
    noise_sampler = make_noise_sampler(name, x, sigmas, seed)
    return run_sampler(SAMPLERS[name], DATA.denoise, x, sigmas, callback=callback,
                       noise_sampler=noise_sampler)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_every_sampler_is_deterministic_given_the_seed(name: str) -> None:
    rng_before = torch.get_rng_state()
    first, second = _run(name, 6, seed=3), _run(name, 6, seed=3)
    assert first.shape == (2, 4, 5, 5) and bool(torch.isfinite(first).all())
    assert torch.equal(first, second)  # no hidden state between runs
    assert torch.equal(rng_before, torch.get_rng_state())  # the global RNG is never used
    if SAMPLERS[name].stochastic:
        assert not torch.equal(first, _run(name, 6, seed=4))
        assert make_noise_sampler(name, first, torch.tensor([1.0, 0.0]), 0) is not None
    else:
        assert make_noise_sampler(name, first, torch.tensor([1.0, 0.0]), 0) is None


@pytest.mark.parametrize("name", [n for n, s in SAMPLERS.items() if s.stochastic])
def test_stochastic_sampler_refuses_to_invent_noise(name: str) -> None:
    sigmas = calculate_sigmas(SD1, "karras", 3).double()
    with pytest.raises(ValueError, match=f"{name}.*noise_sampler"):
        run_sampler(SAMPLERS[name], DATA.denoise, torch.zeros(1, 4, 2, 2, dtype=torch.float64),
                    sigmas)


class Cancelled(Exception):
    pass


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_callback_raising_stops_a_50_step_run_within_one_step(name: str) -> None:
    sigmas = ksampler_sigmas(SD1, name, "normal", 50).double()
    x = DATA.sample_noisy((1, 4, 4, 4), float(sigmas[0]), seed=1)
    model, calls = counting(DATA.denoise)
    seen: list[dict[str, Any]] = []

    def cancel_at_step_1(info: dict[str, Any]) -> None:
        seen.append(info)
        if info["i"] == 1:
            raise Cancelled

    with pytest.raises(Cancelled):
        run_sampler(SAMPLERS[name], model, x, sigmas, callback=cancel_at_step_1,
                    noise_sampler=make_noise_sampler(name, x, sigmas, 0))
    assert [info["i"] for info in seen] == [0, 1]
    assert calls[0] <= CALLS_PER_STEP.get(name, 1) + 1
    assert set(seen[0]) == {"i", "x", "sigma", "sigma_hat", "denoised"}
    assert float(seen[0]["sigma"]) == float(sigmas[0]) and seen[0]["x"].shape == x.shape


def test_callback_sees_every_step_in_order() -> None:
    seen: list[int] = []
    _run("dpmpp_2m", 9, callback=lambda info: seen.append(info["i"]))
    assert seen == list(range(9))


def test_denoise_below_one_takes_the_tail_of_a_longer_schedule() -> None:
    full = calculate_sigmas(SD1, "normal", 20)
    assert torch.equal(ksampler_sigmas(SD1, "euler", "normal", 10, denoise=0.5), full[-11:])
    assert torch.equal(
        ksampler_sigmas(SD1, "euler", "normal", 10, denoise=1.0),
        calculate_sigmas(SD1, "normal", 10),
    )
    # int(7 / 0.3) = 23 steps scheduled, the last 7 taken.
    assert torch.equal(
        ksampler_sigmas(SD1, "euler", "karras", 7, 0.3), calculate_sigmas(SD1, "karras", 23)[-8:]
    )
    assert ksampler_sigmas(SD1, "euler", "normal", 10, denoise=0.0).numel() == 0


def test_dpm_2_and_uni_pc_drop_the_penultimate_sigma() -> None:
    longer = calculate_sigmas(SD1, "karras", 21)
    expected = torch.cat([longer[:-2], longer[-1:]])
    for name in ("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"):
        sigmas = ksampler_sigmas(SD1, name, "karras", 20)
        assert len(sigmas) == 21 and torch.equal(sigmas, expected)
    halved = ksampler_sigmas(SD1, "uni_pc", "normal", 5, denoise=0.5)
    longer = calculate_sigmas(SD1, "normal", 11)
    assert torch.equal(halved, torch.cat([longer[:-2], longer[-1:]])[-6:])


def test_advanced_window_as_ksampler_advanced() -> None:
    sigmas = calculate_sigmas(SD1, "karras", 10)
    original = sigmas.clone()
    base = advanced_sigmas(sigmas, start_step=0, last_step=6)
    assert torch.equal(base, sigmas[:7])
    refiner = advanced_sigmas(sigmas, start_step=6, last_step=10000)
    assert torch.equal(refiner, sigmas[6:])
    forced = advanced_sigmas(sigmas, last_step=4, force_full_denoise=True)
    assert torch.equal(forced[:-1], sigmas[:4]) and float(forced[-1]) == 0.0
    assert advanced_sigmas(sigmas, start_step=10).numel() == 0  # nothing left: latent unchanged
    assert torch.equal(sigmas, original)  # never mutated


@pytest.mark.parametrize("name", ["dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde"])
def test_gpu_trees_coincide_with_cpu_trees_on_the_cpu(name: str) -> None:
    # The *_gpu samplers build their Brownian tree on x's device: a different stream on a GPU,
    # the very same one on the CPU with float32 sigmas (the CPU tree's times are float32 too).
    sigmas = calculate_sigmas(SD1, "karras", 5)  # float32
    x = torch.zeros(1, 4, 4, 4)
    cpu = make_noise_sampler(name, x, sigmas, 3)
    device = make_noise_sampler(f"{name}_gpu", x, sigmas, 3)
    assert cpu is not None and device is not None
    for i in range(4):  # the samplers never draw noise for the step to sigma = 0
        assert torch.equal(cpu(sigmas[i], sigmas[i + 1]), device(sigmas[i], sigmas[i + 1]))
