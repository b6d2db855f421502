"""Classifier-free guidance: the CFG formula, cond/uncond batching, the cfg = 1 shortcut, post-CFG
functions and control hooks, on a linear toy network whose output can be computed by hand."""

from __future__ import annotations

import pytest
import torch
from _guidance_testlib import ToyUNet, text, toy_model

from diffusion.guidance import ControlInputs, ModelHooks, PostCFGArgs, guided_denoiser
from diffusion.sampling import ModelSamplingDiscrete
from diffusion.unet import UNetResiduals
from tests.diffusion.ksampler_recipe import ksample

MS = ModelSamplingDiscrete()
SHAPE = (2, 4, 6, 6)


def _by_hand(x: torch.Tensor, sigma: float, value: float, scale: float = 0.5) -> torch.Tensor:
    """ToyUNet's x0 for a full-area entry of constant ``value`` (eps model)."""
    s = torch.tensor(sigma)
    x_in = x / (s**2 + 1.0) ** 0.5  # c_in
    eps = x_in * scale + value
    return x - eps * s


@pytest.mark.parametrize("cfg", [7.5, 2.0, 0.0])
def test_cfg_combines_cond_and_uncond_exactly(cfg: float) -> None:
    unet = ToyUNet()
    model = guided_denoiser(unet, MS, (text(0.3),), (text(-1.25),), cfg, latent_shape=SHAPE)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    sigma = torch.full((2,), 3.0)
    out = model(x, sigma)
    cond, uncond = _by_hand(x, 3.0, 0.3), _by_hand(x, 3.0, -1.25)
    assert torch.equal(out, uncond + (cond - uncond) * cfg)
    assert unet.rows == [4], "cond and uncond share one forward of 2 x batch"


def test_cfg_one_skips_uncond_and_returns_cond() -> None:
    unet = ToyUNet()
    model = guided_denoiser(unet, MS, (text(0.3),), (text(-1.25),), 1.0, latent_shape=SHAPE)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    out = model(x, torch.full((2,), 2.0))
    assert torch.equal(out, _by_hand(x, 2.0, 0.3))
    assert unet.rows == [2]
    assert all(float(c.context[0, 0, 0]) == pytest.approx(0.3) for c in unet.calls)


@pytest.mark.parametrize(("cfg", "rows"), [(1.0, [1] * 6), (7.0, [2] * 6)])
def test_forwards_per_step_through_sample(cfg: float, rows: list[int]) -> None:
    unet = ToyUNet()
    latent = torch.zeros(1, 4, 6, 6)
    out = ksample(
        toy_model(unet), latent, (text(0.3),), (text(-1.0),),
        seed=1, cfg=cfg, sampler_name="euler", scheduler="normal", steps=6,
    )  # fmt: skip
    assert out.shape == latent.shape
    assert unet.rows == rows


def test_max_batch_area_splits_cond_and_uncond() -> None:
    unet = ToyUNet()
    model = guided_denoiser(
        unet, MS, (text(0.3),), (text(-1.0),), 5.0, latent_shape=SHAPE, max_batch_area=2 * 36
    )
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    out = model(x, torch.full((2,), 1.5))
    assert unet.rows == [2, 2]
    cond, uncond = _by_hand(x, 1.5, 0.3), _by_hand(x, 1.5, -1.0)
    assert torch.equal(out, uncond + (cond - uncond) * 5.0)


def test_post_cfg_functions_run_in_order_on_the_guided_result() -> None:
    seen: list[PostCFGArgs] = []

    def first(args: PostCFGArgs) -> torch.Tensor:
        seen.append(args)
        return args.denoised * 2.0

    def second(args: PostCFGArgs) -> torch.Tensor:
        seen.append(args)
        return args.denoised + 1.0

    model = guided_denoiser(
        ToyUNet(),
        MS,
        (text(0.3),),
        (text(-1.0),),
        4.0,
        latent_shape=SHAPE,
        hooks=ModelHooks(post_cfg=(first, second)),
    )
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    out = model(x, torch.full((2,), 1.0))
    cond, uncond = _by_hand(x, 1.0, 0.3), _by_hand(x, 1.0, -1.0)
    guided = uncond + (cond - uncond) * 4.0
    assert torch.equal(out, guided * 2.0 + 1.0)
    assert torch.equal(seen[0].cond_denoised, cond) and torch.equal(seen[0].uncond_denoised, uncond)
    assert torch.equal(seen[1].denoised, guided * 2.0) and seen[1].cond_scale == 4.0


def test_control_hooks_pass_summed_residuals_and_split_batches() -> None:
    seen: list[ControlInputs] = []

    def hook_a(inputs: ControlInputs) -> UNetResiduals | None:
        seen.append(inputs)
        return UNetResiduals(middle=torch.ones(1))

    def hook_b(inputs: ControlInputs) -> UNetResiduals | None:
        return UNetResiduals(middle=torch.full((1,), 2.0))

    def inactive(inputs: ControlInputs) -> UNetResiduals | None:
        return None

    unet = ToyUNet()
    positive = (text(0.3, control=(hook_a, hook_b, inactive)),)
    model = guided_denoiser(unet, MS, positive, (text(-1.0),), 3.0, latent_shape=SHAPE)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4))
    model(x, torch.full((2,), 1.0))
    assert unet.rows == [2, 2], "entries with different control hooks never share a forward"
    with_control = [c for c in unet.calls if "residuals" in c.kwargs]
    assert len(with_control) == 1 and float(with_control[0].context[0, 0, 0]) == pytest.approx(0.3)
    assert torch.equal(with_control[0].kwargs["residuals"].middle, torch.full((1,), 3.0))
    assert len(seen) == 1 and seen[0].sides == (0,) and torch.equal(seen[0].x, x)
    assert torch.equal(seen[0].context, torch.full((2, 3, 8), 0.3))


def test_entries_sharing_hooks_share_a_forward() -> None:
    calls: list[tuple[int, ...]] = []

    def hook(inputs: ControlInputs) -> UNetResiduals | None:
        calls.append(inputs.sides)
        return None

    unet = ToyUNet()
    model = guided_denoiser(
        unet, MS, (text(0.3, control=(hook,)),), (text(-1.0, control=(hook,)),), 3.0,
        latent_shape=SHAPE,
    )  # fmt: skip
    model(torch.zeros(SHAPE), torch.full((2,), 1.0))
    assert unet.rows == [4] and len(calls) == 1 and sorted(calls[0]) == [0, 1]
    assert "residuals" not in unet.calls[0].kwargs
