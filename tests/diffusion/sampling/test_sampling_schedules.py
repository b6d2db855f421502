"""Sigma tables: ComfyUI's published SD1 values and independent recomputations of each recipe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from _sampling_testlib import kdiffusion_sampling

from diffusion.sampling import SCHEDULER_NAMES, ModelSamplingDiscrete, calculate_sigmas
from diffusion.sampling.schedules import (
    sigmas_beta,
    sigmas_ddim_uniform,
    sigmas_karras,
    sigmas_normal,
    sigmas_sgm_uniform,
    sigmas_simple,
)

SD1 = ModelSamplingDiscrete()

# SD1.x "normal" 20-step table as printed by ComfyUI / k-diffusion (CompVisDenoiser.get_sigmas).
PUBLISHED_NORMAL_20 = [
    14.6146, 10.7468, 8.0815, 6.2049, 4.8557, 3.8654, 3.1238, 2.5572, 2.1157, 1.7648,
    1.4806, 1.2458, 1.0481, 0.8784, 0.7297, 0.5964, 0.4736, 0.3555, 0.2322, 0.0292, 0.0,
]  # fmt: skip


def test_sd1_sigma_range_matches_comfyui() -> None:
    # sigma_max is ComfyUI's KarrasScheduler node default; sigma_min is the end of its karras
    # table (the node's 0.0291675 default is not the model's value).
    assert float(SD1.sigma_max) == pytest.approx(14.614642, abs=1e-6)
    assert float(SD1.sigma_min) == pytest.approx(0.0291672, abs=5e-8)


def test_normal_matches_published_table() -> None:
    sigmas = calculate_sigmas(SD1, "normal", 20)
    assert sigmas.dtype == torch.float32
    assert sigmas.tolist() == pytest.approx(PUBLISHED_NORMAL_20, abs=5e-5)  # 4 decimals


def test_karras_20_matches_published_endpoints() -> None:
    sigmas = calculate_sigmas(SD1, "karras", 20)
    assert len(sigmas) == 21
    assert float(sigmas[0]) == pytest.approx(14.6146, abs=5e-5)
    assert float(sigmas[-2]) == pytest.approx(0.0291672, abs=5e-8)
    assert float(sigmas[-1]) == 0.0
    assert bool((sigmas[:-1] > sigmas[1:]).all())


@pytest.mark.parametrize("steps", [1, 7, 20, 33])
def test_karras_and_exponential_bit_equal_to_kdiffusion(steps: int) -> None:
    kd = kdiffusion_sampling()
    lo, hi = float(SD1.sigma_min), float(SD1.sigma_max)
    assert torch.equal(calculate_sigmas(SD1, "karras", steps), kd.get_sigmas_karras(steps, lo, hi))
    assert torch.equal(
        calculate_sigmas(SD1, "exponential", steps), kd.get_sigmas_exponential(steps, lo, hi)
    )
    assert torch.equal(
        sigmas_karras(steps, 0.1, 80.0, rho=3.0), kd.get_sigmas_karras(steps, 0.1, 80.0, 3.0)
    )


def _loglinear_sigma(table: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.exp(np.interp(t, np.arange(len(table)), np.log(table)))


@pytest.mark.parametrize("steps", [1, 4, 20, 37])
def test_normal_and_sgm_uniform_interpolate_evenly_spaced_timesteps(steps: int) -> None:
    table = SD1.sigmas_float64.numpy()
    expected_normal = _loglinear_sigma(table, np.linspace(999, 0, steps))
    expected_sgm = _loglinear_sigma(table, np.linspace(999, 0, steps + 1)[:-1])
    normal, sgm = sigmas_normal(SD1, steps), sigmas_sgm_uniform(SD1, steps)
    assert len(normal) == len(sgm) == steps + 1 and normal[-1] == 0 and sgm[-1] == 0
    np.testing.assert_allclose(normal[:-1].double().numpy(), expected_normal, rtol=2e-6)
    np.testing.assert_allclose(sgm[:-1].double().numpy(), expected_sgm, rtol=2e-6)


@pytest.mark.parametrize("steps", [1, 3, 20, 30])
def test_simple_takes_table_entries_from_the_top(steps: int) -> None:
    table = SD1.sigmas
    stride = 1000 / steps
    expected = [float(table[999 - math.floor(i * stride)]) for i in range(steps)] + [0.0]
    assert sigmas_simple(SD1, steps).tolist() == expected


@pytest.mark.parametrize("steps", [10, 20, 25, 50])
def test_ddim_uniform_matches_sd_reference_ddim_timesteps(steps: int) -> None:
    # The SD reference DDIM (diffusers' DDIMScheduler with "leading" spacing, steps_offset=1)
    # uses timesteps 1, 1 + k, ..., with k = 1000 // steps.
    timesteps = np.arange(0, steps)[::-1] * (1000 // steps) + 1
    expected = SD1.sigmas[torch.from_numpy(timesteps.copy())].tolist() + [0.0]
    assert sigmas_ddim_uniform(SD1, steps).tolist() == expected


def test_ddim_uniform_keeps_comfyui_step_count_quirk() -> None:
    # 1000 // 7 = 142 reaches timestep 995 too: ComfyUI yields 8 steps for 7.
    assert len(sigmas_ddim_uniform(SD1, 7)) == len(range(1, 1000, 1000 // 7)) + 1 == 9


@pytest.mark.parametrize("steps", [1, 5, 20, 60])
def test_beta_uses_beta_quantile_timesteps(steps: int) -> None:
    sigmas = sigmas_beta(SD1, steps)
    quantiles = 1 - np.linspace(0, 1, steps, endpoint=False)
    timesteps = np.rint(scipy.stats.beta.ppf(quantiles, 0.6, 0.6) * 999).astype(int)
    unique = [t for k, t in enumerate(timesteps) if k == 0 or t != timesteps[k - 1]]
    assert sigmas.tolist() == SD1.sigmas[torch.tensor(unique)].tolist() + [0.0]
    assert float(sigmas[0]) == float(SD1.sigma_max)
    assert bool((sigmas[:-1] > sigmas[1:]).all())


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_every_schedule_descends_to_zero(name: str) -> None:
    sigmas = calculate_sigmas(SD1, name, 12)
    assert sigmas.dtype == torch.float32 and float(sigmas[-1]) == 0.0
    assert bool((sigmas[:-1] > sigmas[1:]).all())
    assert float(sigmas[0]) <= float(SD1.sigma_max) * (1 + 1e-6)


def test_unknown_scheduler_names_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'karas'.*'beta'.*'sgm_uniform'"):
        calculate_sigmas(SD1, "karas", 20)


@pytest.mark.parametrize("steps", [0, -3, 2.5])
def test_bad_steps_are_named(steps: object) -> None:
    with pytest.raises(ValueError, match="steps"):
        calculate_sigmas(SD1, "normal", steps)  # type: ignore[arg-type]


def test_zero_terminal_snr_schedules_start_far_higher() -> None:
    zsnr = ModelSamplingDiscrete(zsnr=True)
    sigmas = calculate_sigmas(zsnr, "normal", 20)
    assert float(sigmas[0]) == pytest.approx(
        math.sqrt((1 - 4.8973451890853435e-08) / 4.8973451890853435e-08), rel=1e-5
    )
    assert float(sigmas[-2]) == pytest.approx(float(SD1.sigma_min), rel=1e-4)
