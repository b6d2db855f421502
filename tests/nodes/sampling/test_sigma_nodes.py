"""Sigma editing, scheduler, noise and model-sampling nodes against hand-computed values (as
ComfyUI defines them); inputs are never modified."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from diffusion.latent_format import SDXL_PLAYGROUND_2_5
from diffusion.sampling import (
    ModelSamplingContinuousEDM,
    ModelSamplingContinuousV,
    ModelSamplingCosmosRFlow,
    ModelSamplingDiscrete,
    ModelSamplingDiscreteDistilled,
    SeededNoise,
)
from nodes.models.clip_nodes import ModelSamplingDiscrete as ModelSamplingDiscreteNode
from nodes.payloads import Latent
from nodes.sampling import model_sampling_nodes as msn
from nodes.sampling.align_your_steps import NOISE_LEVELS, AlignYourStepsScheduler, loglinear_interp
from nodes.sampling.custom import AddNoise, DisableNoise
from nodes.sampling.gits import GITSScheduler
from nodes.sampling.more_schedulers import (
    ExponentialScheduler,
    LaplaceScheduler,
    PolyexponentialScheduler,
    VPScheduler,
)
from nodes.sampling.sigmas import (
    ExtendIntermediateSigmas,
    FlipSigmas,
    SamplingPercentToSigma,
    SetFirstSigma,
    SplitSigmas,
    SplitSigmasDenoise,
)
from tests.nodes.sampling.conftest import Loaded

SIGMAS = torch.tensor([10.0, 5.0, 2.0, 1.0, 0.0])
CTX: Any = None  # these nodes do not use the run context


def _same(a: torch.Tensor, values: list[float]) -> bool:
    return a.shape == (len(values),) and torch.allclose(
        a, torch.tensor(values, dtype=a.dtype), rtol=1e-6, atol=1e-7)


def test_split_sigmas_and_by_denoise() -> None:
    high, low = SplitSigmas().run(CTX, SIGMAS, 2)
    assert _same(high, [10, 5, 2]) and _same(low, [2, 1, 0])
    high, low = SplitSigmasDenoise().run(CTX, SIGMAS, 0.5)  # round(4 * 0.5) = 2 low steps
    assert _same(high, [10, 5, 2]) and _same(low, [2, 1, 0])
    high, low = SplitSigmasDenoise().run(CTX, SIGMAS, 0.0)  # ComfyUI: empty high part
    assert high.numel() == 0 and _same(low, [0])


def test_flip_and_set_first_sigma_copy() -> None:
    before = SIGMAS.clone()
    (flipped,) = FlipSigmas().run(CTX, SIGMAS)
    assert _same(flipped, [0.0001, 1, 2, 5, 10])
    (first,) = SetFirstSigma().run(CTX, SIGMAS, 136.0)
    assert _same(first, [136, 5, 2, 1, 0])
    assert torch.equal(SIGMAS, before)
    (empty,) = FlipSigmas().run(CTX, torch.zeros(0))
    assert empty.numel() == 0


def test_extend_intermediate_sigmas() -> None:
    (linear,) = ExtendIntermediateSigmas().run(CTX, SIGMAS, 2, -1.0, 2.0, "linear")
    assert _same(linear, [10, 7.5, 5, 3.5, 2, 1.5, 1, 0])  # intervals starting at >= 2 halved
    (cosine,) = ExtendIntermediateSigmas().run(CTX, SIGMAS, 3, 6.0, 4.0, "cosine")
    third, two_thirds = math.sin(math.pi / 6), math.sin(math.pi / 3)
    assert _same(cosine, [10, 5, 5 - 3 * third, 5 - 3 * two_thirds, 2, 1, 0])
    (sine,) = ExtendIntermediateSigmas().run(CTX, SIGMAS, 2, 1.0, 0.5, "sine")
    assert _same(sine, [10, 5, 2, 1, 1 - (1 - math.cos(math.pi / 4)), 0])


def test_exponential_polyexponential_vp_laplace_by_hand() -> None:
    (exp,) = ExponentialScheduler().run(CTX, 3, 8.0, 2.0)
    assert _same(exp, [8, 4, 2, 0])
    (poly,) = PolyexponentialScheduler().run(CTX, 3, 8.0, 2.0, 2.0)  # ramp^2 = 1, 1/4, 0
    assert _same(poly, [8, 2 * 4**0.25, 2, 0])
    (vp,) = VPScheduler().run(CTX, 2, 19.9, 0.1, 0.001)
    t = torch.tensor([1.0, 0.001])
    assert _same(vp, [*torch.sqrt(torch.expm1(19.9 * t**2 / 2 + 0.1 * t)).tolist(), 0.0])
    (lap,) = LaplaceScheduler().run(CTX, 3, 14.6, 0.03, 0.0, 0.5)
    mid = 1.0  # x = 0.5: lambda = 0 -> sigma 1
    edge = math.exp(-0.5 * math.log(1e-5))  # x = 0: lambda = -0.5 * log(eps), clamped
    assert _same(lap, [min(edge, 14.6), mid, 0.03])


def test_align_your_steps() -> None:
    (ten,) = AlignYourStepsScheduler().run(CTX, "SD1", 10, 1.0)
    assert _same(ten, [*NOISE_LEVELS["SD1"][:-1], 0.0])
    (five,) = AlignYourStepsScheduler().run(CTX, "SDXL", 5, 1.0)
    levels = NOISE_LEVELS["SDXL"]  # 6 points log-linear on the 11: every other one
    assert _same(five, [*[levels[2 * k] for k in range(5)], 0.0])
    (half,) = AlignYourStepsScheduler().run(CTX, "SD1", 10, 0.5)
    assert _same(half, [*NOISE_LEVELS["SD1"][5:10], 0.0])
    (none,) = AlignYourStepsScheduler().run(CTX, "SVD", 10, 0.0)
    assert none.numel() == 0


def test_disable_noise_keeps_seed_zero() -> None:
    (noise,) = DisableNoise().run(CTX)
    assert noise == SeededNoise(0, enabled=False)
    assert torch.equal(noise.generate(torch.ones(1, 4, 2, 2)), torch.zeros(1, 4, 2, 2))


def test_add_noise_by_hand(loaded: Loaded) -> None:
    lat = Latent(torch.full((1, 4, 8, 8), 0.5))
    (out,) = AddNoise().run(CTX, loaded.model, SeededNoise(3), SIGMAS, lat)
    fmt = loaded.model.latent_format
    expected = fmt.process_out(SeededNoise(3).generate(lat.samples) * 10.0
                               + fmt.process_in(lat.samples))
    torch.testing.assert_close(out.samples, expected)
    assert AddNoise().run(CTX, loaded.model, SeededNoise(3), torch.zeros(0), lat)[0] is lat


def test_sampling_percent_to_sigma(loaded: Loaded) -> None:
    ms = loaded.model.model_sampling
    node = SamplingPercentToSigma()
    assert node.run(CTX, loaded.model, 0.5, False)[0] == ms.percent_to_sigma(0.5)
    assert node.run(CTX, loaded.model, 0.0, False)[0] == 999999999.9
    assert node.run(CTX, loaded.model, 0.0, True)[0] == float(ms.sigma_max)
    assert node.run(CTX, loaded.model, 1.0, True)[0] == float(ms.sigma_min)


@pytest.mark.parametrize(
    ("sampling", "expected"),
    [("eps", ModelSamplingDiscrete("eps", True)), ("x0", ModelSamplingDiscrete("x0", True)),
     ("img_to_img", ModelSamplingDiscrete("img_to_img", True)),
     ("lcm", ModelSamplingDiscreteDistilled(zsnr=True))],
)
def test_model_sampling_discrete_modes(loaded: Loaded, sampling: str, expected: Any) -> None:
    (patched,) = ModelSamplingDiscreteNode().run(CTX, loaded.model, sampling, True)
    assert patched.model_sampling == expected
    assert loaded.model.model_sampling == ModelSamplingDiscrete()  # the input is untouched


@pytest.mark.parametrize(
    ("sampling", "expected"),
    [("v_prediction", ModelSamplingContinuousEDM("v_prediction", 0.002, 120.0)),
     ("eps", ModelSamplingContinuousEDM("eps", 0.002, 120.0)),
     ("edm", ModelSamplingContinuousEDM("edm", 0.002, 120.0, 0.5)),
     ("edm_playground_v2.5", ModelSamplingContinuousEDM("edm", 0.002, 120.0, 0.5)),
     ("cosmos_rflow", ModelSamplingCosmosRFlow(min_sigma=0.002, max_sigma=120.0))],
)
def test_model_sampling_continuous_edm(loaded: Loaded, sampling: str, expected: Any) -> None:
    (patched,) = msn.ModelSamplingContinuousEDM().run(CTX, loaded.model, sampling, 120.0, 0.002)
    assert patched.model_sampling == expected
    playground = sampling == "edm_playground_v2.5"
    assert (patched.latent_format == SDXL_PLAYGROUND_2_5) == playground
    (v,) = msn.ModelSamplingContinuousV().run(CTX, loaded.model, "v_prediction", 500.0, 0.03)
    assert v.model_sampling == ModelSamplingContinuousV(min_sigma=0.03, max_sigma=500.0)
    with pytest.raises(ValueError, match="sigma_min"):
        msn.ModelSamplingContinuousEDM().run(CTX, loaded.model, "eps", 120.0, 0.0)


def test_playground_latent_format_round_trips() -> None:
    raw = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    model_space = SDXL_PLAYGROUND_2_5.process_in(raw)
    mean = torch.tensor([-1.6574, 1.886, -1.383, 2.5155]).view(1, 4, 1, 1)
    std = torch.tensor([8.4927, 5.9022, 6.5498, 5.2299]).view(1, 4, 1, 1)
    torch.testing.assert_close(model_space, (raw - mean) * 0.5 / std)
    torch.testing.assert_close(SDXL_PLAYGROUND_2_5.process_out(model_space), raw)


def test_gits_schedules() -> None:
    node = GITSScheduler()
    (ten,) = node.run(CTX, 1.2000000000000002, 10, 1.0)  # the widget's float for 1.20
    row = [14.61464119, 5.85520077, 2.84484982, 1.67050016, 1.08895338, 0.74807048, 0.50118381,
           0.32104823, 0.19894916, 0.09824532]  # GITS's 10-step schedule at coefficient 1.20
    assert _same(ten, [*row, 0.0])
    assert _same(node.run(CTX, 0.80, 2, 1.0)[0], [14.61464119, 7.49001646, 0.0])
    assert _same(node.run(CTX, 1.20, 10, 0.5)[0], [*row[5:], 0.0])
    (longer,) = node.run(CTX, 1.50, 25, 1.0)  # the 20-step one, log-linearly interpolated
    assert longer.shape == (26,) and float(longer[0]) == pytest.approx(14.61464119)
    assert 0.02916753 < float(longer[-2]) < 0.09824532  # between the table's last levels
    assert loglinear_interp([4.0, 1.0], 3) == pytest.approx([4.0, 2.0, 1.0])  # geometric
    assert bool((longer[:-1] > longer[1:]).all())
    with pytest.raises(ValueError, match="coeff"):
        node.run(CTX, 0.83, 10, 1.0)
