"""SAMPLER nodes with options return the built-in sampler of ComfyUI's name with those options
(and the noise it then draws); the CFG++ and LCM-upscale samplers run through the engine's
sampling path on the tiny model."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from diffusion.sampling import SAMPLERS
from diffusion.sampling.er_sde import reverse_time_sde_noise_scaler
from nodes.payloads import Latent
from nodes.sampling.advanced_samplers import SamplerEulerCFGpp, SamplerLCMUpscale
from nodes.sampling.custom import SamplerCustom
from nodes.sampling.guiders import BasicGuider, DualCFGGuider, PerpNegGuider
from nodes.sampling.sampler_nodes import (
    SamplerDPMAdaptative,
    SamplerDPMPP_2M_SDE,
    SamplerDPMPP_SDE,
    SamplerER_SDE,
    SamplerEulerAncestral,
    SamplerLMS,
    SamplerSASolver,
)
from nodes.sampling.schedulers import KarrasScheduler
from tests.nodes.sampling.conftest import Loaded


def test_option_nodes_pick_the_named_sampler(loaded: Loaded) -> None:
    ctx = loaded.ctx()
    (ea,) = SamplerEulerAncestral().run(ctx, 0.5, 0.9)
    assert ea.sample is SAMPLERS["euler_ancestral"].sample and ea.options == {"eta": 0.5,
                                                                              "s_noise": 0.9}
    (sde,) = SamplerDPMPP_2M_SDE().run(ctx, "heun", 1.0, 1.0, "gpu")
    assert sde.name == "dpmpp_2m_sde_gpu" and sde.noise == "brownian_device"
    assert sde.options["solver_type"] == "heun"
    (cpu,) = SamplerDPMPP_SDE().run(ctx, 1.0, 1.0, 0.3, "cpu")
    assert cpu.name == "dpmpp_sde" and cpu.noise == "brownian" and cpu.options["r"] == 0.3
    assert SamplerLMS().run(ctx, 2)[0].options == {"order": 2}
    with pytest.raises(ValueError, match="noise_device"):
        SamplerDPMPP_SDE().run(ctx, 1.0, 1.0, 0.5, "tpu")


def test_adaptive_and_er_sde_noise_follows_their_settings(loaded: Loaded) -> None:
    ctx = loaded.ctx()
    args: list[Any] = [3, 0.05, 0.0078, 0.05, 0.0, 1.0, 0.0, 0.81]
    assert not SamplerDPMAdaptative().run(ctx, *args, 0.0, 1.0)[0].stochastic
    assert SamplerDPMAdaptative().run(ctx, *args, 0.5, 1.0)[0].noise == "gaussian"
    (ode,) = SamplerER_SDE().run(ctx, "ODE", 3, 1.0, 1.0)
    assert not ode.stochastic and ode.options["s_noise"] == 0.0
    assert float(ode.options["noise_scaler"](torch.tensor(3.0))) == 3.0  # x^1: the ODE
    (rev,) = SamplerER_SDE().run(ctx, "Reverse-time SDE", 2, 0.5, 1.0)
    assert float(rev.options["noise_scaler"](torch.tensor(4.0))) == float(
        reverse_time_sde_noise_scaler(torch.tensor(4.0), 0.5))
    (er,) = SamplerER_SDE().run(ctx, "ER-SDE", 3, 1.0, 1.0)
    assert er.options["noise_scaler"] is None and er.stochastic


def test_sa_solver_window_comes_from_the_model(loaded: Loaded) -> None:
    (sa,) = SamplerSASolver().run(loaded.ctx(), loaded.model, 1.0, 0.2, 0.8, 1.0, 3, 4, True,
                                  False)
    ms = loaded.model.model_sampling
    assert sa.options["sde_start_sigma"] == ms.percent_to_sigma(0.2)
    assert sa.options["sde_end_sigma"] == ms.percent_to_sigma(0.8)
    assert sa.options["use_pece"] is True


def _custom(loaded: Loaded, sampler: Any, cfg: float = 5.0) -> torch.Tensor:
    (sigmas,) = KarrasScheduler().run(loaded.ctx(), 3, 14.6, 0.03, 7.0)
    out, _ = SamplerCustom().run(loaded.ctx(), loaded.model, True, 3, cfg, loaded.positive,
                                 loaded.negative, sampler, sigmas,
                                 Latent(torch.zeros(1, 4, 8, 8)))
    return out.samples


def test_euler_cfg_pp_versions_differ_and_run(loaded: Loaded) -> None:
    (regular,) = SamplerEulerCFGpp().run(loaded.ctx(), "regular")
    (alternative,) = SamplerEulerCFGpp().run(loaded.ctx(), "alternative")
    assert regular is SAMPLERS["euler_cfg_pp"] and alternative.needs_uncond
    a, b = _custom(loaded, regular), _custom(loaded, alternative)
    assert bool(torch.isfinite(a).all() and torch.isfinite(b).all()) and not torch.equal(a, b)


def test_lcm_upscale_grows_the_latent(loaded: Loaded) -> None:
    (sampler,) = SamplerLCMUpscale().run(loaded.ctx(), 1.5, -1, "bislerp")
    out = _custom(loaded, sampler, cfg=1.0)
    assert out.shape == (1, 4, 12, 12) and bool(torch.isfinite(out).all())


def test_guider_nodes_bind_their_guiders(loaded: Loaded) -> None:
    ctx, pos, neg = loaded.ctx(), loaded.positive, loaded.negative
    (basic,) = BasicGuider().run(ctx, loaded.model, pos)
    (dual,) = DualCFGGuider().run(ctx, loaded.model, pos, neg, neg, 3.0, 2.0, "nested")
    (perp,) = PerpNegGuider().run(ctx, loaded.model, pos, neg, neg, 4.0, 1.0)
    assert basic.conditioning == pos and dual.nested and perp.neg_scale == 1.0
    with pytest.raises(ValueError, match="style"):
        DualCFGGuider().run(ctx, loaded.model, pos, neg, neg, 3.0, 2.0, "twisted")


def test_guiders_sample_through_sampler_custom_advanced(loaded: Loaded) -> None:
    from diffusion.sampling import SeededNoise
    from nodes.sampling.custom import SamplerCustomAdvanced

    ctx, pos, neg = loaded.ctx(), loaded.positive, loaded.negative
    (sigmas,) = KarrasScheduler().run(ctx, 3, 14.6, 0.03, 7.0)
    lat = Latent(torch.zeros(1, 4, 8, 8))
    guides = [DualCFGGuider().run(ctx, loaded.model, pos, neg, neg, 3.0, 2.0, "regular")[0],
              PerpNegGuider().run(ctx, loaded.model, pos, neg, neg, 4.0, 1.0)[0]]
    for guide in guides:
        out, _ = SamplerCustomAdvanced().run(ctx, SeededNoise(2), guide,
                                             SAMPLERS["dpmpp_2m_cfg_pp"], sigmas, lat)
        assert bool(torch.isfinite(out.samples).all())
    (basic,) = BasicGuider().run(ctx, loaded.model, pos)
    with pytest.raises(ValueError, match="'euler_cfg_pp'.*BasicGuider"):
        SamplerCustomAdvanced().run(ctx, SeededNoise(2), basic, SAMPLERS["euler_cfg_pp"],
                                    sigmas, lat)
