"""The samplers added for ComfyUI's full list, against references on analytic denoisers
(float64).

k-diffusion 0.1.1 (``sampling.py``): dpm_fast, dpm_adaptive, dpmpp_2m_sde with the Heun
correction and the *_gpu / *_heun variants (same solver, replayed noise), LMS (variable-step
Adams-Bashforth in sigma) for ipndm / ipndm_v where their published formulas are Adams-Bashforth.
Samplers k-diffusion lacks are checked against references written here from their papers."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from _sampling_testlib import (
    GaussianData,
    GaussianMixture,
    kdiffusion_sampling,
    replay_noise,
    run_sampler,
)
from torch import Tensor

from diffusion.sampling import SAMPLERS
from diffusion.sampling.deis import (
    QUADRATURE_POINTS,
    deis_coefficients,
    sigma_to_vp_time,
    vp_parameters,
)
from diffusion.sampling.schedules import sigmas_karras

DATA = {"gaussian": GaussianData(), "mixture": GaussianMixture()}
SHAPE = (8, 2, 3, 3)  # (B, C, H, W)
TOL = 1e-5


def _setup(data_name: str, steps: int, terminal_zero: bool = True) -> tuple[Any, Tensor, Tensor]:
    data = DATA[data_name]
    sigmas = sigmas_karras(steps, 0.03, 14.6).double()
    if not terminal_zero:
        sigmas = sigmas[:-1]
    return data, sigmas, data.sample_noisy(SHAPE, float(sigmas[0]), seed=3)


def _diff(a: Tensor, b: Tensor) -> float:
    assert a.shape == b.shape and bool(torch.isfinite(a).all())
    return float((a - b).abs().max())


@pytest.mark.parametrize("data_name", DATA)
def test_dpm_fast_matches_kdiffusion(data_name: str) -> None:
    kd = kdiffusion_sampling()
    data, sigmas, x = _setup(data_name, 12)
    ours = run_sampler(SAMPLERS["dpm_fast"], data.denoise, x, sigmas)
    # ComfyUI: from sigmas[0] to the last positive sigma, one model call per schedule step.
    ref = kd.sample_dpm_fast(data.denoise, x, float(sigmas[-2]), float(sigmas[0]), 12,
                             disable=True)
    assert _diff(ours, ref) <= TOL


@pytest.mark.filterwarnings("ignore:To copy construct:UserWarning")  # k-diffusion's torch.tensor
@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize(("order", "eta"), [(3, 0.0), (2, 0.0), (3, 0.5)])
def test_dpm_adaptive_matches_kdiffusion(data_name: str, order: int, eta: float) -> None:
    kd = kdiffusion_sampling()
    data, sigmas, x = _setup(data_name, 12)
    options = {"order": order, "eta": eta, "rtol": 0.02}
    ours = run_sampler(SAMPLERS["dpm_adaptive"], data.denoise, x, sigmas,
                       noise_sampler=replay_noise(x, 4), **options)
    ref = kd.sample_dpm_adaptive(data.denoise, x, sigmas[-2].clone(), sigmas[0].clone(),
                                 disable=True, noise_sampler=replay_noise(x, 4), **options)
    assert _diff(ours, ref) <= TOL


@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize(
    ("name", "solver_type"),
    [("dpmpp_2m_sde_heun", "heun"), ("dpmpp_2m_sde_heun_gpu", "heun"),
     ("dpmpp_2m_sde_gpu", "midpoint"), ("dpmpp_sde_gpu", None), ("dpmpp_3m_sde_gpu", None)],
)
def test_sde_variants_match_kdiffusion(data_name: str, name: str, solver_type: str | None) -> None:
    kd = kdiffusion_sampling()
    data, sigmas, x = _setup(data_name, 10)
    ours = run_sampler(SAMPLERS[name], data.denoise, x, sigmas, noise_sampler=replay_noise(x, 11))
    base = name.removesuffix("_gpu").removesuffix("_heun")
    extra = {} if solver_type is None else {"solver_type": solver_type}
    ref = getattr(kd, f"sample_{base}")(data.denoise, x, sigmas, disable=True,
                                        noise_sampler=replay_noise(x, 11), **extra)
    assert _diff(ours, ref) <= 1e-9


@pytest.mark.parametrize("data_name", DATA)
def test_ipndm_is_adams_bashforth_4_on_even_steps(data_name: str) -> None:
    kd = kdiffusion_sampling()
    data = DATA[data_name]
    sigmas = torch.linspace(14.6, 0.03, 12, dtype=torch.float64)
    x = data.sample_noisy(SHAPE, 14.6, seed=3)
    ref = kd.sample_lms(data.denoise, x, sigmas, disable=True)
    assert _diff(run_sampler(SAMPLERS["ipndm"], data.denoise, x, sigmas), ref) <= 1e-9


@pytest.mark.parametrize("data_name", DATA)
def test_ipndm_v_coefficients(data_name: str) -> None:
    # zju-pi/diff-sampler's iPNDM_v: exact variable-step AB2; AB3 on even steps; its order-4
    # weights on even steps are (57, -65, 43, -11) / 24 (not AB4's 55, -59, 37, -9).
    kd = kdiffusion_sampling()
    data, sigmas, x = _setup(data_name, 12, terminal_zero=False)
    ipndm_v = SAMPLERS["ipndm_v"]
    ab2 = kd.sample_lms(data.denoise, x, sigmas, disable=True, order=2)
    assert _diff(run_sampler(ipndm_v, data.denoise, x, sigmas, max_order=2), ab2) <= 1e-9
    even = torch.linspace(14.6, 0.03, 12, dtype=torch.float64)
    ab3 = kd.sample_lms(data.denoise, x, even, disable=True, order=3)
    assert _diff(run_sampler(ipndm_v, data.denoise, x, even, max_order=3), ab3) <= 1e-9
    weights = ([1.0], [1.5, -0.5], [23 / 12, -16 / 12, 5 / 12],
               [57 / 24, -65 / 24, 43 / 24, -11 / 24])
    ref, slopes = x, []
    for i in range(len(even) - 1):
        slopes.insert(0, (ref - data.denoise(ref, even[i].expand(SHAPE[0]))) / even[i])
        w = weights[min(i, 3)]
        ref = ref + (even[i + 1] - even[i]) * sum(c * d for c, d in zip(w, slopes, strict=False))
    assert _diff(run_sampler(ipndm_v, data.denoise, x, even), ref) <= 1e-9


def test_deis_coefficients_are_the_tab_integrals() -> None:
    # DEIS-tAB (Zhang & Chen 2023, eq. 14): weight j of step i is the integral over [t_i, t_i+1]
    # of d sigma / d t times the j-th Lagrange basis on the last nodes; the sampler uses
    # ComfyUI's 10000-point Riemann sum, within its O(1 / N) of the exact integral.
    from scipy.integrate import quad

    sigmas = sigmas_karras(8, 0.03, 14.6).double()
    ts = sigma_to_vp_time(sigmas).tolist()
    beta_min, beta_d = vp_parameters()

    def dsigma_dt(t: float) -> float:
        e = torch.tensor(0.5 * beta_d * t * t + beta_min * t, dtype=torch.float64)
        return float((beta_d * t + beta_min) * e.exp() / (2 * (e.exp() - 1).sqrt()))

    coefficients = deis_coefficients(sigmas, 3)
    assert coefficients[0] == [] and coefficients[-1] == []  # Euler first and into sigma = 0
    for i in range(1, len(sigmas) - 2):
        order = min(i + 1, 3)
        nodes = [ts[i - k] for k in range(order)]
        for j in range(order):
            def basis(t: float, j: int = j, nodes: list[float] = nodes) -> float:
                out = dsigma_dt(t)
                for k, node in enumerate(nodes):
                    if k != j:
                        out *= (t - node) / (nodes[j] - node)
                return out

            exact = quad(basis, ts[i], ts[i + 1], epsabs=1e-12)[0]
            scale = abs(sigmas[i + 1] - sigmas[i]).item()
            assert abs(coefficients[i][j] - exact) <= 4 * scale / QUADRATURE_POINTS


@pytest.mark.parametrize("data_name", DATA)
def test_deis_follows_its_coefficients(data_name: str) -> None:
    data, sigmas, x = _setup(data_name, 10)
    weights = deis_coefficients(sigmas, 3)
    ref, slopes = x, []
    for i in range(len(sigmas) - 1):
        slopes.insert(0, (ref - data.denoise(ref, sigmas[i].expand(SHAPE[0]))) / sigmas[i])
        if weights[i]:
            ref = ref + sum(c * d for c, d in zip(weights[i], slopes, strict=False))
        else:
            ref = ref + (sigmas[i + 1] - sigmas[i]) * slopes[0]
    assert _diff(run_sampler(SAMPLERS["deis"], data.denoise, x, sigmas), ref) <= 1e-12


@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize(
    ("name", "options", "reference", "ref_options"),
    [
        ("seeds_2", {"eta": 0.0}, "dpmpp_2s_ancestral", {"eta": 0.0}),  # SEEDS-2 ODE = 2S
        ("sa_solver", {"eta": 0.0, "predictor_order": 1, "corrector_order": 0}, "euler", {}),
        ("er_sde", {"s_noise": 0.0, "max_stage": 1, "noise_scaler": lambda v: v}, "euler", {}),
        ("gradient_estimation", {"ge_gamma": 1.0}, "euler", {}),
    ],
)
def test_degenerate_settings_reduce_to_kdiffusion(
    data_name: str, name: str, options: dict[str, Any], reference: str,
    ref_options: dict[str, Any],
) -> None:
    # First-order data-prediction exponential steps are exactly DDIM (= Euler in sigma).
    kd = kdiffusion_sampling()
    data, sigmas, x = _setup(data_name, 12)
    ours = run_sampler(SAMPLERS[name], data.denoise, x, sigmas, **options)
    ref = getattr(kd, f"sample_{reference}")(data.denoise, x, sigmas, disable=True,
                                             **ref_options)
    assert _diff(ours, ref) <= 1e-9


@pytest.mark.parametrize("data_name", DATA)
def test_heunpp2_against_its_formula(data_name: str) -> None:
    # Heun++ (Carzit's sd-webui-samplers-scheduler, as ComfyUI): slopes at sigma_i, sigma_i+1
    # and sigma_i+2 weighted 1 - w2 - w3, w2 = s_i+1 / 3 s_0, w3 = s_i+2 / 3 s_0; the step
    # before last is Heun with weight s_i+1 / 2 s_0, the last an Euler step.
    data, sigmas, x = _setup(data_name, 8)

    def slope(v: Tensor, s: Tensor) -> Tensor:
        return (v - data.denoise(v, s.expand(SHAPE[0]))) / s

    ref, n = x, len(sigmas)
    for i in range(n - 1):
        s0, s1 = sigmas[i], sigmas[i + 1]
        d = slope(ref, s0)
        if i == n - 2:
            ref = ref + d * (s1 - s0)
            continue
        d2 = slope(ref + d * (s1 - s0), s1)
        if i == n - 3:
            w2 = s1 / (2 * sigmas[0])
            ref = ref + ((1 - w2) * d + w2 * d2) * (s1 - s0)
            continue
        s2 = sigmas[i + 2]
        d3 = slope(ref + d * (s1 - s0) + d2 * (s2 - s1), s2)
        w2, w3 = s1 / (3 * sigmas[0]), s2 / (3 * sigmas[0])
        ref = ref + ((1 - w2 - w3) * d + w2 * d2 + w3 * d3) * (s1 - s0)
    assert _diff(run_sampler(SAMPLERS["heunpp2"], data.denoise, x, sigmas), ref) <= 1e-12
