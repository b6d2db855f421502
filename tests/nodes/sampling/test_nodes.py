"""Sampling nodes on a tiny SD1.5 model: each node wires its inputs to ComfyUI's meaning (checked
against direct ``diffusion.guidance.sample`` runs and against each other), never modifies its
inputs, reports progress with previews every step, and names bad inputs."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from PIL import Image

from diffusion.guidance import GuidedModel
from diffusion.sampling import get_sampler
from diffusion.sampling.noise import SEED_MAX
from nodes.payloads import Latent
from nodes.sampling.custom import (
    CFGGuider,
    KSamplerSelect,
    RandomNoise,
    SamplerCustom,
    SamplerCustomAdvanced,
)
from nodes.sampling.ksampler import KSampler, KSamplerAdvanced
from nodes.sampling.schedulers import BasicScheduler, KarrasScheduler, SDTurboScheduler
from tests.diffusion.ksampler_recipe import ksample
from tests.nodes.sampling.conftest import Loaded


def latent(seed: int = 0, batch: int = 1) -> Latent:
    g = torch.Generator().manual_seed(seed)
    return Latent(torch.randn((batch, 4, 8, 8), generator=g))  # (B, 4, 8, 8): 64×64 pixels


def ksampler(loaded: Loaded, lat: Latent, **kw: Any) -> Latent:
    args = {"seed": 5, "steps": 3, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0, **kw}
    (out,) = KSampler().run(loaded.ctx(), loaded.model, positive=loaded.positive,
                            negative=loaded.negative, latent_image=lat, **args)
    return out


def direct(loaded: Loaded, lat: Latent, **kw: Any) -> torch.Tensor:
    m = loaded.model
    with loaded.engine.ports.models.use(m.unet) as unet:
        guided = GuidedModel.from_unet(unet, m.model_sampling, m.latent_format, adm=m.adm)
        return ksample(guided, lat.samples, loaded.positive, loaded.negative, **kw)


def test_ksampler_is_sample_with_its_inputs(loaded: Loaded) -> None:
    lat = latent()
    before = lat.samples.clone()
    out = ksampler(loaded, lat, denoise=0.7, seed=SEED_MAX)
    expected = direct(loaded, lat, seed=SEED_MAX, cfg=7.0, sampler_name="euler",
                      scheduler="normal", steps=3, denoise=0.7)
    assert torch.equal(out.samples, expected)
    assert torch.equal(lat.samples, before)  # the input is untouched
    assert not torch.equal(out.samples, ksampler(loaded, lat, denoise=0.7, seed=6).samples)


def test_output_keeps_noise_mask_and_batch_index(loaded: Loaded) -> None:
    mask = torch.ones((1, 1, 64, 64))
    lat = dataclasses.replace(latent(batch=2), noise_mask=mask, batch_index=(3, 1))
    out = ksampler(loaded, lat)
    assert out.noise_mask is mask and out.batch_index == (3, 1)
    assert out.samples.shape == (2, 4, 8, 8)


def test_denoise_zero_returns_the_latent_unchanged(loaded: Loaded) -> None:
    lat = latent()
    assert torch.equal(ksampler(loaded, lat, denoise=0.0).samples, lat.samples)


def advanced(loaded: Loaded, lat: Latent, add_noise: str, start: int, end: int,
             leftover: str, steps: int = 4) -> Latent:
    (out,) = KSamplerAdvanced().run(
        loaded.ctx(), loaded.model, add_noise, 5, steps, 7.0, "euler", "normal", loaded.positive,
        loaded.negative, lat, start, end, leftover)
    return out


def test_advanced_step_split_equals_one_full_run(loaded: Loaded) -> None:
    lat = Latent(torch.zeros((1, 4, 8, 8)))
    full = advanced(loaded, lat, "enable", 0, 10000, "disable")
    first = advanced(loaded, lat, "enable", 0, 2, "enable")
    second = advanced(loaded, first, "disable", 2, 10000, "disable")
    scale = full.samples.abs().max()  # random weights: latents reach ~300; float32 rounding
    assert (second.samples - full.samples).abs().max() <= 1e-5 * scale
    assert torch.equal(full.samples, ksampler(loaded, lat, steps=4).samples)
    denoised_early = advanced(loaded, lat, "enable", 0, 2, "disable")
    assert (denoised_early.samples - first.samples).abs().max() > 1e-2 * scale


def test_advanced_window_past_the_end_returns_the_input(loaded: Loaded) -> None:
    lat = latent()
    assert torch.equal(advanced(loaded, lat, "enable", 4, 10000, "disable").samples, lat.samples)


def test_sampler_custom_with_basic_scheduler_equals_ksampler(loaded: Loaded) -> None:
    lat = Latent(torch.zeros((1, 4, 8, 8)))
    (sigmas,) = BasicScheduler().run(loaded.ctx(), loaded.model, "karras", 3, 1.0)
    (sampler,) = KSamplerSelect().run(loaded.ctx(), "dpmpp_2m")
    out, denoised = SamplerCustom().run(loaded.ctx(), loaded.model, True, 5, 7.0,
                                        loaded.positive, loaded.negative, sampler, sigmas, lat)
    expected = ksampler(loaded, lat, sampler_name="dpmpp_2m", scheduler="karras")
    assert torch.equal(out.samples, expected.samples)
    # the last step lands on sigma 0, where the sample is the model's x0 prediction
    assert torch.allclose(denoised.samples, out.samples, rtol=1e-5, atol=1e-3)
    early, early_x0 = SamplerCustom().run(loaded.ctx(), loaded.model, True, 5, 7.0,
                                          loaded.positive, loaded.negative, sampler,
                                          sigmas[:-1], lat)  # stops at sigma_min: noisy
    assert (early.samples - early_x0.samples).abs().max() > 1e-3

    (noise,) = RandomNoise().run(loaded.ctx(), 5)
    (guider,) = CFGGuider().run(loaded.ctx(), loaded.model, loaded.positive, loaded.negative, 7.0)
    adv_out, adv_denoised = SamplerCustomAdvanced().run(loaded.ctx(), noise, guider, sampler,
                                                        sigmas, lat)
    assert torch.equal(adv_out.samples, out.samples)
    assert torch.equal(adv_denoised.samples, denoised.samples)


def test_sampler_custom_without_noise_starts_from_the_latent(loaded: Loaded) -> None:
    lat = latent()
    (sigmas,) = BasicScheduler().run(loaded.ctx(), loaded.model, "normal", 2, 0.5)
    sampler = get_sampler("euler")
    out, _ = SamplerCustom().run(loaded.ctx(), loaded.model, False, 5, 7.0, loaded.positive,
                                 loaded.negative, sampler, sigmas, lat)
    expected = direct(loaded, lat, seed=5, cfg=7.0, sampler_name="euler", sigmas=sigmas,
                      add_noise=False)
    assert torch.equal(out.samples, expected)


def test_basic_scheduler_denoise_takes_the_tail(loaded: Loaded) -> None:
    (full,) = BasicScheduler().run(loaded.ctx(), loaded.model, "normal", 8, 1.0)
    (part,) = BasicScheduler().run(loaded.ctx(), loaded.model, "normal", 4, 0.5)
    assert full.shape == (9,) and torch.equal(part, full[-5:])
    (none,) = BasicScheduler().run(loaded.ctx(), loaded.model, "normal", 4, 0.0)
    assert none.numel() == 0


def test_karras_scheduler_ends(loaded: Loaded) -> None:
    (sigmas,) = KarrasScheduler().run(loaded.ctx(), 20, 14.614642, 0.0291675, 7.0)
    assert sigmas.shape == (21,) and sigmas[-1] == 0
    assert sigmas[0].item() == pytest.approx(14.614642, rel=1e-6)
    assert sigmas[-2].item() == pytest.approx(0.0291675, rel=1e-5)
    with pytest.raises(ValueError, match="'rho'"):
        KarrasScheduler().run(loaded.ctx(), 20, 14.6, 0.03, 0.0)


def test_sd_turbo_scheduler_timesteps(loaded: Loaded) -> None:
    ms = loaded.model.model_sampling
    (one,) = SDTurboScheduler().run(loaded.ctx(), loaded.model, 1, 1.0)
    assert torch.equal(one, torch.cat([ms.sigma(torch.tensor([999])), torch.zeros(1)]))
    assert one[0].item() == pytest.approx(14.6146, abs=1e-4)
    (half,) = SDTurboScheduler().run(loaded.ctx(), loaded.model, 2, 0.5)
    assert torch.equal(half, torch.cat([ms.sigma(torch.tensor([499, 399])), torch.zeros(1)]))


def test_progress_every_step_with_previews(loaded: Loaded) -> None:
    ctx = loaded.ctx()
    KSampler().run(ctx, loaded.model, 5, 4, 7.0, "euler", "normal", loaded.positive,
                   loaded.negative, latent(), 1.0)
    assert [(v, t) for v, t, _ in ctx.reports] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    first, last = ctx.reports[0][2], ctx.reports[-1][2]
    for preview in (first, last):  # ComfyUI's ("JPEG", image, 512): shown fitted into 512 px
        fmt, image, max_size = preview
        assert (fmt, max_size) == ("JPEG", 512)
        assert isinstance(image, Image.Image) and image.size == (8, 8) and image.mode == "RGB"


def test_cancel_inside_sampling_stops_at_the_next_step(loaded: Loaded) -> None:
    from nodes.api import NodeInterrupted

    ctx = loaded.ctx(cancel_after=2)
    with pytest.raises(NodeInterrupted):
        KSampler().run(ctx, loaded.model, 5, 50, 7.0, "euler", "normal", loaded.positive,
                       loaded.negative, latent(), 1.0)
    assert len(ctx.reports) == 2


def test_bad_inputs_are_named(loaded: Loaded) -> None:
    with pytest.raises(ValueError, match="unknown sampler 'nope'"):
        KSamplerSelect().run(loaded.ctx(), "nope")
    wide = Latent(torch.zeros((1, 9, 8, 8)))
    with pytest.raises(ValueError, match="KSampler: input 'latent_image' has 9 channels"):
        ksampler(loaded, wide)
    with pytest.raises(ValueError, match="input 'sigmas' must be a 1-d tensor"):
        SamplerCustom().run(loaded.ctx(), loaded.model, True, 5, 7.0, loaded.positive,
                            loaded.negative, get_sampler("euler"), torch.zeros((2, 2)),
                            latent())


def test_seed_limits_are_validated(loaded: Loaded) -> None:
    prompt = {"1": {"class_type": "RandomNoise", "inputs": {"noise_seed": SEED_MAX}}}
    loaded.engine.validate(prompt, targets=["1"])
    from executor.errors import PromptError

    prompt["1"]["inputs"]["noise_seed"] = SEED_MAX + 1
    with pytest.raises(PromptError) as caught:
        loaded.engine.validate(prompt, targets=["1"])
    assert "value_bigger_than_max" in str(caught.value.node_errors)
