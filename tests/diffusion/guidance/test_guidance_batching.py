"""Timestep ranges switch entries at the right step; entries of different token lengths share a
forward by repetition and give what separate forwards give."""

from __future__ import annotations

import torch
from _guidance_testlib import ToyUNet, counting, text, tiny_model, toy_model

from diffusion.guidance import Cond, guided_denoiser
from diffusion.sampling import ModelSamplingDiscrete, ksampler_sigmas
from tests.diffusion.ksampler_recipe import ksample

MS = ModelSamplingDiscrete()


def test_timestep_range_switches_between_two_entries() -> None:
    unet = ToyUNet()
    early = text(1.0, start_percent=0.0, end_percent=0.5)
    late = text(2.0, start_percent=0.5, end_percent=1.0)
    ksample(
        toy_model(unet), torch.zeros(1, 4, 4, 4), (early, late), (text(0.0),),
        seed=0, cfg=1.0, sampler_name="euler", scheduler="normal", steps=10,
    )  # fmt: skip
    sigmas = ksampler_sigmas(MS, "euler", "normal", 10)[:-1]
    boundary = MS.percent_to_sigma(0.5)  # sigma at t = 499.5
    switch = int((sigmas >= boundary).sum())
    assert 0 < switch < 10
    assert float(sigmas[switch - 1]) > boundary > float(sigmas[switch])
    used = [sorted({float(v) for v in c.context[:, 0, 0]}) for c in unet.calls]
    assert used == [[1.0]] * switch + [[2.0]] * (10 - switch)


def test_entry_outside_every_range_is_never_run() -> None:
    unet = ToyUNet()
    ksample(
        toy_model(unet), torch.zeros(1, 4, 4, 4),
        (text(1.0), text(9.0, start_percent=0.6, end_percent=0.4)), (text(0.0),),
        seed=0, cfg=1.0, sampler_name="euler", steps=4,
    )  # fmt: skip
    assert all(float(c.context.max()) == 1.0 for c in unet.calls)


def _token_cond(tokens: int, seed: int) -> Cond:
    gen = torch.Generator().manual_seed(seed)
    return Cond(torch.randn(1, tokens, 24, generator=gen))


def test_different_token_lengths_batch_by_repetition_like_separate_passes() -> None:
    model = tiny_model("sd1")
    shapes = counting(model.unet)
    a, b = _token_cond(77, 1), _token_cond(154, 2)
    shape = (1, 4, 8, 8)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 5.0
    sigma = torch.full((1,), 5.0)
    negative = (_token_cond(77, 4),)
    with torch.no_grad():
        both = guided_denoiser(model.unet, MS, (a, b), negative, 1.0, latent_shape=shape)(x, sigma)
        contexts_seen = []
        model.unet.register_forward_pre_hook(lambda _m, args: contexts_seen.append(args[2].shape))
        alone_a = guided_denoiser(model.unet, MS, (a,), negative, 1.0, latent_shape=shape)(x, sigma)
        alone_b = guided_denoiser(model.unet, MS, (b,), negative, 1.0, latent_shape=shape)(x, sigma)
    assert shapes[0] == (2, 4, 8, 8), "both entries in one forward"
    assert len(shapes) == 3
    torch.testing.assert_close(both, (alone_a + alone_b) / 2.0, rtol=1e-5, atol=1e-5)
    assert [tuple(s) for s in contexts_seen] == [(1, 77, 24), (1, 154, 24)]


def test_token_lengths_beyond_four_times_run_separately() -> None:
    unet = ToyUNet()
    positive = (text(1.0, tokens=2), text(2.0, tokens=10))  # lcm 10 = 5 x 2
    guided_denoiser(unet, MS, positive, (), 1.0, latent_shape=(1, 4, 4, 4))(
        torch.zeros(1, 4, 4, 4), torch.ones(1)
    )
    assert unet.rows == [1, 1]
    unet.calls.clear()
    positive = (text(1.0, tokens=3), text(2.0, tokens=12))  # lcm 12 = 4 x 3
    guided_denoiser(unet, MS, positive, (), 1.0, latent_shape=(1, 4, 4, 4))(
        torch.zeros(1, 4, 4, 4), torch.ones(1)
    )
    assert unet.rows == [2] and unet.calls[0].context.shape[1] == 12
