"""``sample`` as ComfyUI's KSampler / KSamplerAdvanced / SamplerCustom: latent scaling in and out,
seeded noise (batch_index), denoise < 1, step windows, given sigmas, cancellation, and a tiny real
UNet for txt2img and img2img."""

from __future__ import annotations

import pytest
import torch
from _guidance_testlib import ToyUNet, text, tiny_model, toy_model

from diffusion.guidance import Area, Cond, GuidedModel
from diffusion.latent_format import SD15
from diffusion.sampling import ModelSamplingDiscrete, ksampler_sigmas, prepare_noise
from tests.diffusion.ksampler_recipe import ksample

MS = ModelSamplingDiscrete()


class Cancelled(Exception):
    pass


def _conds(width: int = 24) -> tuple[tuple[Cond], tuple[Cond]]:
    gen = torch.Generator().manual_seed(0)
    return (Cond(torch.randn(1, 77, width, generator=gen)),), (Cond(torch.zeros(1, 77, width)),)


def _zero_eps(x_in: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x_in)  # x0 = x: euler leaves x unchanged


def test_latent_scale_applies_into_and_out_of_the_sampler() -> None:
    latent = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    model = GuidedModel(_zero_eps, MS, SD15)
    out = ksample(
        model, latent, (text(0.0),), (), seed=9, cfg=1.0, sampler_name="euler", steps=4,
        denoise=0.5,
    )  # fmt: skip
    sigma0 = ksampler_sigmas(MS, "euler", "normal", 4, 0.5)[0]
    expected = (latent * 0.18215 + prepare_noise(latent, 9) * sigma0) / 0.18215
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


def test_full_denoise_scales_noise_by_sqrt_one_plus_sigma_squared() -> None:
    unet = ToyUNet()
    latent = torch.zeros(2, 4, 4, 4)
    ksample(
        toy_model(unet), latent, (text(0.0),), (), seed=4, cfg=1.0, sampler_name="euler",
        steps=2, batch_index=[3, 1],
    )  # fmt: skip
    sigma0 = ksampler_sigmas(MS, "euler", "normal", 2)[0]
    x = prepare_noise(latent, 4, [3, 1]) * torch.sqrt(1.0 + sigma0**2.0)
    assert torch.equal(unet.calls[0].x_in, MS.calculate_input(sigma0, x))


def test_add_noise_off_and_given_sigmas() -> None:
    unet = ToyUNet()
    latent = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(2))
    sigmas = torch.tensor([2.5, 1.0, 0.0])
    ksample(
        toy_model(unet), latent, (text(0.0),), (), seed=4, cfg=1.0, sampler_name="euler",
        sigmas=sigmas, add_noise=False,
    )  # fmt: skip
    assert len(unet.calls) == 2
    assert torch.equal(unet.calls[0].x_in, MS.calculate_input(sigmas[0], SD15.process_in(latent)))


def test_advanced_window_and_leftover_noise() -> None:
    steps: list[tuple[int, int]] = []
    unet = ToyUNet()
    latent = torch.zeros(1, 4, 4, 4)
    full = ksampler_sigmas(MS, "euler", "normal", 10)
    ksample(
        toy_model(unet), latent, (text(0.0),), (), seed=1, cfg=1.0, sampler_name="euler",
        steps=10, start_step=3, last_step=6, callback=lambda i, n, _x0: steps.append((i, n)),
    )  # fmt: skip
    assert steps == [(0, 3), (1, 3), (2, 3)]
    assert torch.equal(unet.calls[0].timesteps, MS.timestep(full[3:4]).float())
    untouched = ksample(
        toy_model(), latent, (text(0.0),), (), seed=1, cfg=1.0, sampler_name="euler",
        steps=10, start_step=10,
    )  # fmt: skip
    assert untouched is latent


def test_cancellation_stops_within_one_step() -> None:
    unet = ToyUNet()

    def cancel_at_three(step: int, total: int, x0: torch.Tensor) -> None:
        assert total == 50 and x0.shape == (1, 4, 4, 4)
        if step == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        ksample(
            toy_model(unet), torch.zeros(1, 4, 4, 4), (text(0.0),), (text(1.0),), seed=1,
            cfg=7.0, sampler_name="heun", steps=50, callback=cancel_at_three,
        )  # fmt: skip
    assert len(unet.calls) == 4 + 3  # heun: 2 calls per step; the 4th step's first call reports


def test_tiny_unet_txt2img_and_img2img() -> None:
    model = tiny_model("sd1")
    positive, negative = _conds()
    totals: list[int] = []
    txt = ksample(
        model, torch.zeros(1, 4, 8, 8), positive, negative, seed=1, cfg=7.0,
        sampler_name="euler_ancestral", steps=3, callback=lambda i, n, x0: totals.append(n),
    )  # fmt: skip
    assert txt.shape == (1, 4, 8, 8) and torch.isfinite(txt).all() and totals == [3] * 3
    totals.clear()
    img = ksample(
        model, txt, positive, negative, seed=2, cfg=7.0, sampler_name="dpmpp_2m",
        scheduler="karras", steps=4, denoise=0.5, callback=lambda i, n, x0: totals.append(n),
    )  # fmt: skip
    assert img.shape == txt.shape and torch.isfinite(img).all() and totals == [4] * 4
    assert not torch.equal(img, txt)


def test_sample_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown sampler 'nope'"):
        ksample(toy_model(), torch.zeros(1, 4, 4, 4), (), (), seed=1, cfg=1, sampler_name="nope")
    with pytest.raises(ValueError, match="latent must be"):
        ksample(toy_model(), torch.zeros(4, 4, 4), (), (), seed=1, cfg=1, sampler_name="euler")
    with pytest.raises(ValueError, match="noise shape"):
        ksample(
            toy_model(), torch.zeros(1, 4, 4, 4), (), (), seed=1, cfg=1, sampler_name="euler",
            noise=torch.zeros(1, 4, 2, 2),
        )  # fmt: skip


def test_inputs_are_not_mutated() -> None:
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    mask = torch.zeros(1, 8, 8)
    mask[:, :, 4:] = 1.0
    positive = (text(0.5, mask=mask.clone(), area=None),)
    before = (latent.clone(), positive[0].cross_attn.clone(), mask.clone())
    ksample(
        toy_model(), latent, positive, (text(0.0),), seed=1, cfg=3.0, sampler_name="euler",
        steps=2, denoise=0.7, noise_mask=mask,
    )  # fmt: skip
    assert torch.equal(latent, before[0]) and torch.equal(positive[0].cross_attn, before[1])
    assert torch.equal(mask, before[2]) and torch.equal(positive[0].mask, before[2])


def test_network_inputs_are_cast_to_the_model_dtype() -> None:
    unet = ToyUNet()
    model = GuidedModel(unet, MS, SD15, dtype=torch.float64)
    out = ksample(
        model, torch.zeros(1, 4, 4, 4), (text(0.5),), (), seed=1, cfg=1.0, sampler_name="euler"
    )
    assert unet.calls[0].x_in.dtype == torch.float64
    assert unet.calls[0].context.dtype == torch.float64
    assert out.dtype == torch.float32


def test_from_unet_reads_adm_inpaint_and_dtype() -> None:
    sd1 = tiny_model("sd1")
    assert (sd1.adm, sd1.inpaint_concat, sd1.dtype) == ("none", False, torch.float32)
    assert tiny_model("sd1_inpaint").inpaint_concat
    assert tiny_model("sdxl").adm == "sdxl"
    with pytest.raises(ValueError, match="adm_in_channels=1552"):
        GuidedModel.from_unet(tiny_model("sdxl").unet, MS, SD15)  # type: ignore[arg-type]


def test_area_outside_the_latent_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"starts outside the 4x4 latent"):
        ksample(
            toy_model(), torch.zeros(1, 4, 4, 4), (text(1.0, area=Area(2, 2, 4, 0)),), (),
            seed=1, cfg=1.0, sampler_name="euler", steps=1,
        )  # fmt: skip
