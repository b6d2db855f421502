"""linear_quadratic and kl_optimal, and the scheduler list in ComfyUI's order."""

from __future__ import annotations

import pytest
import torch

from diffusion.sampling import SCHEDULER_NAMES, ModelSamplingDiscrete
from diffusion.sampling.schedules import calculate_sigmas, sigmas_kl_optimal

SD1 = ModelSamplingDiscrete()


def test_scheduler_names_are_comfyuis_nine_in_order() -> None:
    assert SCHEDULER_NAMES == ("simple", "sgm_uniform", "karras", "exponential", "ddim_uniform",
                               "beta", "normal", "linear_quadratic", "kl_optimal")


def test_linear_quadratic_by_hand() -> None:
    # 4 steps: linear part 0, 0.0125 (threshold 0.025 over 2 steps), then the quadratic
    # 0.2375 i^2 - 0.9375 i + 0.95 at i = 2, 3 -> 0.025, 0.275; sigma = (1 - v) * sigma_max.
    expected = torch.tensor([1.0, 0.9875, 0.975, 0.725, 0.0]) * SD1.sigma_max
    torch.testing.assert_close(calculate_sigmas(SD1, "linear_quadratic", 4), expected)
    one = calculate_sigmas(SD1, "linear_quadratic", 1)
    assert torch.equal(one, torch.stack([SD1.sigma_max, torch.tensor(0.0)]))
    assert calculate_sigmas(SD1, "linear_quadratic", 7).shape == (8,)


def test_kl_optimal_is_even_in_atan_sigma() -> None:
    # atan(0.1) + atan(10) = pi / 2, so the midpoint is tan(pi / 4) = 1.
    torch.testing.assert_close(sigmas_kl_optimal(3, 0.1, 10.0), torch.tensor([10.0, 1.0, 0.1, 0.0]))
    torch.testing.assert_close(sigmas_kl_optimal(1, 0.1, 10.0), torch.tensor([10.0, 0.0]))
    model = calculate_sigmas(SD1, "kl_optimal", 5)
    assert float(model[0]) == pytest.approx(float(SD1.sigma_max), rel=1e-6)
    assert float(model[-2]) == pytest.approx(float(SD1.sigma_min), rel=1e-5)
    atan = model[:-1].double().atan()
    torch.testing.assert_close(atan[1:] - atan[:-1], torch.full((4,), float(atan[1] - atan[0]),
                                                                dtype=torch.float64))
