"""Empirical order of accuracy of the ODE samplers as the step count doubles.

The error is measured at sigma_min = 0.05 (no final step to 0, whose Euler/denoise step would add
a fixed error) against the exact flow of the Gaussian (closed form) and of a bimodal Gaussian
mixture (DOP853 at 1e-12). Karras sigmas, 16 -> 128 steps; the observed order between
consecutive doublings must sit in the method's band.
"""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch
from _sampling_testlib import GaussianData, GaussianMixture, run_sampler
from torch import Tensor

from diffusion.sampling import SAMPLERS
from diffusion.sampling.schedules import sigmas_karras

SIGMA_MAX, SIGMA_MIN = 10.0, 0.05
STEPS = (16, 32, 64, 128)
DATA = {
    "gaussian": GaussianData(),
    "mixture": GaussianMixture(means=(-1.5, 1.0), stds=(0.5, 0.7)),
}

# (lowest, highest) observed order over the last two doublings (32 -> 64 -> 128).
ORDER_BANDS = {
    "euler": (0.85, 1.2),
    "ddim": (0.85, 1.2),
    "heun": (1.8, 2.4),
    "dpm_2": (1.8, 2.4),
    "dpmpp_2m": (1.8, 2.4),
    # Adams-Bashforth 4 in sigma; its order-1..3 start-up steps pull the observed order under 4.
    "lms": (2.6, 4.3),
    # UniPC-3 with corrector, but (as ComfyUI and diffusers) the last step is a plain first-order
    # step, so asymptotically 2nd order; on the mixture the higher-order terms still dominate.
    "uni_pc": (1.9, 4.8),
    "uni_pc_bh2": (1.9, 4.8),
}


@cache
def _problem(data_name: str) -> tuple[Tensor, Tensor]:
    data = DATA[data_name]
    x = data.sample_noisy((16,), SIGMA_MAX, seed=0)
    return x, data.ode_solution(x, SIGMA_MAX, SIGMA_MIN)


def _schedule(steps: int) -> Tensor:
    sigmas = sigmas_karras(steps, SIGMA_MIN, SIGMA_MAX).double()[:-1]
    sigmas[0], sigmas[-1] = SIGMA_MAX, SIGMA_MIN  # exact ends (the table is float32)
    return sigmas


@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize("name", ORDER_BANDS)
def test_observed_order_of_accuracy(data_name: str, name: str) -> None:
    x, exact = _problem(data_name)
    sample = SAMPLERS[name].sample
    errors = [
        float((sample(DATA[data_name].denoise, x, _schedule(n)) - exact).abs().max()) for n in STEPS
    ]
    assert errors[-1] < errors[1] / 3, errors  # converging at all
    orders = [math.log2(errors[k] / errors[k + 1]) for k in range(len(errors) - 1)]
    low, high = ORDER_BANDS[name]
    assert all(low <= p <= high for p in orders[-2:]), (name, orders, errors)


# The samplers ComfyUI added later, deterministic settings: (options, (lowest, highest) order).
EXTRA_BANDS: dict[str, tuple[dict[str, object], tuple[float, float]]] = {
    "res_multistep": ({}, (1.9, 2.4)),  # RES second-order multistep
    "deis": ({}, (2.4, 3.5)),  # tAB3, its quadrature error shows at 128 steps
    "ipndm": ({}, (1.9, 2.4)),  # AB4 with even-step weights: 2nd order on Karras steps
    "seeds_2": ({"eta": 0.0}, (1.9, 2.2)),
    "seeds_3": ({"eta": 0.0}, (2.8, 3.3)),
    "sa_solver": ({"eta": 0.0}, (3.8, 4.9)),  # predictor 3 + corrector 4
    "heunpp2": ({}, (0.9, 1.15)),  # its weights tend to Euler's at low sigma
    "gradient_estimation": ({}, (0.75, 1.15)),
}


@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize("name", EXTRA_BANDS)
def test_observed_order_of_the_added_samplers(data_name: str, name: str) -> None:
    x, exact = _problem(data_name)
    options, (low, high) = EXTRA_BANDS[name]
    errors = [
        float((run_sampler(SAMPLERS[name], DATA[data_name].denoise, x, _schedule(n), **options)
               - exact).abs().max())
        for n in STEPS
    ]
    assert errors[-1] < errors[1] / 3, errors
    orders = [math.log2(errors[k] / errors[k + 1]) for k in range(len(errors) - 1)]
    assert all(low <= p <= high for p in orders[-2:]), (name, orders, errors)


def test_reference_flow_is_the_exact_gaussian_flow() -> None:
    # The DOP853 reference used for the mixture agrees with the closed form on the Gaussian.
    data = DATA["gaussian"]
    x = data.sample_noisy((2,), SIGMA_MAX, seed=1)
    closed = data.ode_solution(x, SIGMA_MAX, SIGMA_MIN)
    numeric = GaussianMixture(weights=(1.0,), means=(data.mu,), stds=(data.s0,)).ode_solution(
        x, SIGMA_MAX, SIGMA_MIN
    )
    torch.testing.assert_close(numeric, closed, rtol=1e-9, atol=1e-9)
