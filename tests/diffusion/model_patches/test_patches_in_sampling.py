"""Model patches inside real sampling runs of a tiny UNet: each one changes the result (and
neutral settings do not), patches compose on one model in order and keep their per-run state
per run, the input model's hooks are never changed, SAG keeps the negative side at cfg 1 and
re-evaluates it, PAG re-evaluates the positive side with identity self-attention, the Perp-Neg
patch shares PerpNegGuider's maths, and Differential Diffusion reshapes the inpainting mask."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import torch
from torch import Tensor

from diffusion import model_patches as mp
from diffusion.guidance import CFGGuider, GuidedModel, PerpNegGuider, sample
from diffusion.sampling import SeededNoise, get_sampler, ksampler_sigmas
from diffusion.unet.attention import Attend, AttentionInfo
from tests.diffusion.guidance._guidance_testlib import text, tiny_model

SHAPE = (1, 4, 16, 16)
POSITIVE, NEGATIVE = (text(0.5, channels=24),), (text(-0.3, channels=24),)


def run(model: GuidedModel, cfg: float = 5.0, steps: int = 3, mask: Tensor | None = None,
        latent: Tensor | None = None, guider: Any = None) -> Tensor:
    guider = guider or CFGGuider(model, POSITIVE, NEGATIVE, cfg)
    sigmas = ksampler_sigmas(model.model_sampling, "euler", "normal", steps)
    start = torch.zeros(SHAPE) if latent is None else latent
    return sample(guider, get_sampler("euler"), sigmas, SeededNoise(3), start, mask=mask)


def with_patch(model: GuidedModel, *patches: Any) -> GuidedModel:
    hooks = model.hooks
    for patch in patches:
        hooks = patch.add_to(hooks)
    return dataclasses.replace(model, hooks=hooks)


def resize(x: Tensor, width: int, height: int) -> Tensor:
    return torch.nn.functional.interpolate(x, size=(height, width), mode="bilinear")


CHANGING = {
    "freeu": mp.FreeU(1.1, 1.2, 0.9, 0.2),
    "freeu_v2": mp.FreeU(1.3, 1.4, 0.9, 0.2, version=2),
    "hypertile": mp.HyperTile(32, 2, 0, False),
    "tome": mp.TokenMerging(0.5),
    "deep_shrink": mp.DeepShrink(mp.DeepShrinkDown(1, 2.0, 1e9, 0.0, resize),
                                 mp.DeepShrinkUp(resize)),
    "sag": mp.SelfAttentionGuidance(0.5, 2.0),
    "pag": mp.PerturbedAttentionGuidance(3.0),
    "rescale_cfg": mp.RescaleCFG(0.7),
    "perp_neg": mp.PerpNegCFG((text(0.0, channels=24),), 1.0),
    "cfg_norm": mp.CFGNorm(1.0),
    "cfg_zero_star": mp.CFGZeroStar(),
    "mahiro": mp.Mahiro(),
    "epsilon_scaling": mp.EpsilonScaling(1.005),
    "apg": mp.APG(1.0, 5.0, 0.5),
    "tcfg": mp.TCFG(),
    "fresca": mp.FreSca(1.0, 1.5, 2),
    "compute_dtype": mp.ComputeDtype(torch.bfloat16),
}
NEUTRAL = {
    "freeu": mp.FreeU(1.0, 1.0, 1.0, 1.0),
    "sag": mp.SelfAttentionGuidance(0.0, 2.0),
    "pag": mp.PerturbedAttentionGuidance(0.0),
    "rescale_cfg": mp.RescaleCFG(0.0),
    "epsilon_scaling": mp.EpsilonScaling(1.0),
    "fresca": mp.FreSca(1.0, 1.0, 20),
    "tome": mp.TokenMerging(0.0),
    "deep_shrink": mp.DeepShrink(mp.DeepShrinkDown(1, 2.0, -1.0, -2.0, resize),
                                 mp.DeepShrinkUp(resize)),
}


@pytest.fixture(scope="module")
def model() -> GuidedModel:
    return tiny_model("sd1")


@pytest.fixture
def plain(model: GuidedModel) -> Tensor:
    return run(model)  # with the test's thread count (it changes float rounding)


@pytest.mark.parametrize("name", sorted(CHANGING))
def test_each_patch_changes_the_result(name: str, model: GuidedModel, plain: Tensor) -> None:
    patched = with_patch(model, CHANGING[name])
    out = run(patched)
    assert torch.isfinite(out).all()
    assert not torch.allclose(out, plain, atol=1e-3)
    assert torch.equal(run(patched), out)  # deterministic, per-run state included
    assert not model.hooks  # the input model's hooks are untouched


@pytest.mark.parametrize("name", sorted(NEUTRAL))
def test_neutral_settings_keep_the_result(name: str, model: GuidedModel, plain: Tensor) -> None:
    out = run(with_patch(model, NEUTRAL[name]))
    scale = float(plain.abs().max())  # random weights: latents reach ~300; float32 rounding
    assert float((out - plain).abs().max()) <= 1e-5 * scale


def test_patches_compose_in_order_and_leave_the_input_model_alone(model: GuidedModel) -> None:
    plain = run(model)
    freeu, sag, rescale = CHANGING["freeu"], CHANGING["sag"], CHANGING["rescale_cfg"]
    composed = with_patch(model, freeu, sag, rescale)
    hooks = composed.hooks
    assert hooks.block_outputs == (freeu,) and hooks.cfg == rescale
    assert len(hooks.attention) == 1 and len(hooks.post_cfg) == 1 and hooks.needs_uncond
    out = run(composed)
    singles = [run(with_patch(model, p)) for p in (freeu, sag, rescale)]
    assert all(not torch.allclose(out, single, atol=1e-3) for single in singles)
    assert torch.equal(run(composed), out)
    # the unpatched model still samples exactly as before any patched run
    assert torch.equal(run(model), plain) and not model.hooks


def counting_unet(model: GuidedModel) -> tuple[GuidedModel, list[tuple[int, Any]]]:
    calls: list[tuple[int, Any]] = []

    def unet(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        calls.append((x.shape[0], kwargs.get("attention")))
        out: Tensor = model.unet(x, *args, **kwargs)
        return out

    return dataclasses.replace(model, unet=unet), calls


def test_sag_keeps_the_negative_side_at_cfg_1_and_evaluates_it_again(model: GuidedModel
                                                                     ) -> None:
    counted, calls = counting_unet(with_patch(model, CHANGING["sag"]))
    run(counted, cfg=1.0, steps=2)
    # per step: cond + uncond in one forward (2 rows), then the degraded uncond again (1 row)
    assert [rows for rows, _ in calls] == [2, 1, 2, 1]
    assert calls[1][1].cond_or_uncond == (0,)  # re-evaluated entries are labelled cond


def test_pag_evaluates_the_positive_side_with_identity_self_attention(model: GuidedModel
                                                                      ) -> None:
    counted, calls = counting_unet(with_patch(model, CHANGING["pag"]))
    run(counted, steps=2)
    assert [rows for rows, _ in calls] == [2, 1, 2, 1]
    extra = calls[1][1].processors
    assert extra and isinstance(extra[-1], mp.PerturbedSelfAttention)
    assert calls[0][1] is None  # the main forward runs plain attention


def test_perp_neg_patch_shares_perp_neg_guiders_maths(model: GuidedModel) -> None:
    empty = (text(0.0, channels=24),)
    patched = with_patch(model, mp.PerpNegCFG(empty, 0.7))
    guider = PerpNegGuider(model, POSITIVE, NEGATIVE, empty, 5.0, 0.7)
    got, want = run(patched), run(model, guider=guider)
    # the same maths batched differently: float rounding only, measured ~6e-7 of the largest value
    assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_differential_diffusion_reshapes_the_inpainting_mask(model: GuidedModel) -> None:
    latent = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    patched = with_patch(model, mp.DifferentialDiffusion())
    ones = torch.ones(16, 16)
    assert torch.equal(run(patched, latent=latent, mask=ones),
                       run(model, latent=latent, mask=ones))  # a full mask stays full
    ramp = torch.linspace(0, 1, 16).repeat(16, 1)
    soft = run(patched, latent=latent, mask=ramp)
    assert not torch.allclose(soft, run(model, latent=latent, mask=ramp), atol=1e-3)
    assert torch.isfinite(soft).all()


def test_attention_processors_see_the_tokens_a_token_patch_left(model: GuidedModel) -> None:
    seen: list[int] = []

    def record(q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend) -> Tensor:
        if info.kind == "self" and info.block == ("input", 1):
            seen.append(q.shape[1])
        return attend(q, k, v)

    patched = with_patch(model, mp.TokenMerging(0.5))
    patched = dataclasses.replace(patched, hooks=patched.hooks.plus(attention=(record,)))
    run(patched, steps=1)
    assert seen == [128]  # 256 tokens at full resolution, half merged away


def test_compute_dtype_runs_the_network_in_that_dtype(model: GuidedModel) -> None:
    wrapped = mp.ComputeDtype(torch.bfloat16)(model.unet)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    t, context = torch.tensor([999.0]), torch.randn(1, 3, 24)
    # a bf16 copy of the network on bf16 inputs; the timesteps stay float32
    expected = copy.deepcopy(model.unet).to(torch.bfloat16)(x.bfloat16(), t, context.bfloat16())
    got = wrapped(x, t, context)
    assert got.dtype == torch.bfloat16 and torch.equal(got, expected)
    assert {p.dtype for p in model.unet.parameters()} == {torch.float32}  # weights untouched


def test_an_unbound_sag_refuses_to_record() -> None:
    hooks = mp.SelfAttentionGuidance().add_to(tiny_model("sd1").hooks)
    info = AttentionInfo("self", ("middle", 0), 0, 2, (2, 2), torch.zeros(2), (0, 1))
    q = torch.zeros(2, 4, 16)
    with pytest.raises(ValueError, match="outside a sampling run"):
        hooks.attention[0](q, q, q, info, lambda a, b, c: a)

