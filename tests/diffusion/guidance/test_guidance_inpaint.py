"""Inpainting: the noise mask restores the kept latent every step and exactly at the end; a
9-channel inpainting model sees [x, mask, masked-image latent] and still predicts 4 channels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _guidance_testlib import ToyUNet, text, tiny_model, toy_model

from diffusion.guidance import Cond
from diffusion.guidance.inpaint import BLANK_INPAINT_LATENT
from diffusion.latent_format import SD15
from diffusion.sampling import ModelSamplingDiscrete, ksampler_sigmas, prepare_noise
from tests.diffusion.ksampler_recipe import ksample

MS = ModelSamplingDiscrete()


def _latent(shape: tuple[int, ...] = (1, 4, 8, 8), seed: int = 7) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 4.0


def _pixel_mask(height: int = 64, width: int = 64) -> torch.Tensor:
    mask = torch.zeros(1, height, width)
    mask[:, :, 36:] = 1.0  # left part kept; one fractional latent column at the edge
    return mask


@pytest.mark.parametrize("sampler_name", ["euler", "dpmpp_2m", "euler_ancestral"])
def test_kept_region_is_bit_equal_after_sampling(sampler_name: str) -> None:
    model = tiny_model("sd1")
    latent = _latent()
    cond = Cond(torch.randn(1, 5, 24, generator=torch.Generator().manual_seed(1)))
    uncond = Cond(torch.zeros(1, 5, 24))
    out = ksample(
        model, latent, (cond,), (uncond,), seed=3, cfg=4.0, sampler_name=sampler_name,
        scheduler="karras", steps=4, noise_mask=_pixel_mask(),
    )  # fmt: skip
    latent_mask = F.interpolate(_pixel_mask()[:, None], size=(8, 8), mode="bilinear")[0, 0]
    kept = latent_mask == 0
    assert int(kept.sum()) == 32 and bool((latent_mask[:, 4] == 0.5).all())
    assert torch.equal(out[..., kept], latent[..., kept])
    assert not torch.allclose(out[..., ~kept], latent[..., ~kept])


def test_kept_region_is_renoised_to_each_sigma_before_the_model() -> None:
    unet = ToyUNet()
    latent = _latent()
    ksample(
        toy_model(unet), latent, (text(0.5),), (text(0.0),), seed=11, cfg=1.0,
        sampler_name="euler", steps=3, noise_mask=_pixel_mask(),
    )  # fmt: skip
    noise = prepare_noise(latent, 11)
    latent_in = SD15.process_in(latent)
    sigmas = ksampler_sigmas(MS, "euler", "normal", 3)
    assert len(unet.calls) == 3
    for call, sigma in zip(unet.calls, sigmas, strict=False):
        noised = MS.noise_scaling(sigma, noise, latent_in)
        expected = MS.calculate_input(sigma, noised)
        assert torch.equal(call.x_in[..., :4], expected[..., :4])


def test_ddim_renoises_the_kept_region_from_seed_plus_one() -> None:
    unet = ToyUNet()
    latent = _latent()
    ksample(
        toy_model(unet), latent, (text(0.5),), (text(0.0),), seed=11, cfg=1.0,
        sampler_name="ddim", scheduler="ddim_uniform", steps=2, noise_mask=_pixel_mask(),
    )  # fmt: skip
    sigma = ksampler_sigmas(MS, "ddim", "ddim_uniform", 2)[0]
    fresh = torch.randn(latent.shape, generator=torch.Generator().manual_seed(12))
    expected = MS.calculate_input(sigma, MS.noise_scaling(sigma, fresh, SD15.process_in(latent)))
    assert torch.equal(unet.calls[0].x_in[..., :4], expected[..., :4])


def test_inpaint_model_input_layout() -> None:
    unet = ToyUNet()
    latent = _latent((2, 4, 8, 8))
    out = ksample(
        toy_model(unet, inpaint_concat=True), latent, (text(0.5),), (text(0.0),), seed=1,
        cfg=3.0, sampler_name="euler", steps=2, noise_mask=_pixel_mask(),
    )  # fmt: skip
    assert out.shape == (2, 4, 8, 8)
    x_in = unet.calls[0].x_in
    assert x_in.shape == (4, 9, 8, 8)  # cond + uncond rows; 4 + 1 + 4 channels
    mask = F.interpolate(_pixel_mask()[:, None], size=(8, 8), mode="bilinear").round()
    assert torch.equal(x_in[:, 4:5], mask.expand(4, 1, 8, 8))
    assert torch.equal(x_in[:, 5:], SD15.process_in(latent).repeat(2, 1, 1, 1))


def test_inpaint_model_without_mask_sees_ones_and_blank_latent() -> None:
    unet = ToyUNet()
    ksample(
        toy_model(unet, inpaint_concat=True), torch.zeros(1, 4, 4, 4), (text(0.5),), (),
        seed=1, cfg=1.0, sampler_name="euler", steps=1,
    )  # fmt: skip
    x_in = unet.calls[0].x_in
    assert torch.equal(x_in[:, 4], torch.ones(1, 4, 4))
    blank = torch.tensor(BLANK_INPAINT_LATENT).reshape(1, 4, 1, 1).expand(1, 4, 4, 4)
    assert torch.equal(x_in[:, 5:], blank)


def test_real_nine_channel_unet_samples_four_channels() -> None:
    model = tiny_model("sd1_inpaint")
    assert model.inpaint_concat
    cond = Cond(torch.randn(1, 5, 24, generator=torch.Generator().manual_seed(1)))
    out = ksample(
        model, _latent(), (cond,), (Cond(torch.zeros(1, 5, 24)),), seed=2, cfg=5.0,
        sampler_name="euler", steps=2, noise_mask=_pixel_mask(),
    )  # fmt: skip
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
