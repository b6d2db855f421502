"""The other guiders on a linear toy network whose x0 per conditioning is known by hand:
dual CFG (regular and nested, as ComfyUI's DualCFGGuider), Perp-Neg (Armandpour et al. 2023, as
ComfyUI's PerpNegGuider), BasicGuider; which sides each skips; the unconditional prediction each
records for CFG++ samplers, and a CFG++ run through ``sample`` against a hand-written loop."""

from __future__ import annotations

import pytest
import torch
from _guidance_testlib import ToyUNet, text, toy_model
from torch import Tensor

from diffusion.guidance import (
    BasicGuider,
    CFGGuider,
    DualCFGGuider,
    PerpNegGuider,
    UncondGuider,
    sample,
)
from diffusion.sampling import SAMPLERS, SeededNoise, UncondTap
from diffusion.sampling.schedules import sigmas_karras

SHAPE = (2, 4, 6, 6)
X = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
SIGMA = torch.full((2,), 3.0)
LATENT = torch.zeros(SHAPE)


def by_hand(x: Tensor, sigma: float, value: float, scale: float = 0.5) -> Tensor:
    """ToyUNet's x0 for a full-area entry of constant ``value`` (eps model)."""
    s = torch.tensor(sigma)
    return x - (x / (s**2 + 1.0) ** 0.5 * scale + value) * s


P, M, N, E = 0.3, -0.4, -1.25, 0.05  # positive / middle / negative / empty encodings


@pytest.mark.parametrize("nested", [False, True])
def test_dual_cfg_by_hand(nested: bool) -> None:
    unet = ToyUNet()
    guider = DualCFGGuider(toy_model(unet), (text(P),), (text(M),), (text(N),), 3.0, 2.0, nested)
    out = guider.denoiser(LATENT, None)(X, SIGMA)
    p, m, n = (by_hand(X, 3.0, v) for v in (P, M, N))
    expected = n + 2.0 * ((m + (p - m) * 3.0) - n) if nested else n + (m - n) * 2.0 + (p - m) * 3.0
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert unet.rows == [6]  # the three sides share one forward


def test_dual_cfg_skips_sides_that_cannot_matter_unless_uncond_is_recorded() -> None:
    unet = ToyUNet()
    guider = DualCFGGuider(toy_model(unet), (text(P),), (text(M),), (text(N),), 1.0, 1.0)
    torch.testing.assert_close(guider.denoiser(LATENT, None)(X, SIGMA), by_hand(X, 3.0, P))
    assert unet.rows == [2]
    tap = UncondTap()
    guider.tapped_denoiser(LATENT, None, tap)(X, SIGMA)
    assert unet.rows[-1] == 6
    torch.testing.assert_close(tap.latest("test"), by_hand(X, 3.0, N))  # regular: N
    nested = DualCFGGuider(toy_model(), (text(P),), (text(M),), (text(N),), 2.0, 2.0, True)
    nested.tapped_denoiser(LATENT, None, tap)(X, SIGMA)
    torch.testing.assert_close(tap.latest("test"), by_hand(X, 3.0, M))  # nested: the middle


def test_perp_neg_by_hand() -> None:
    unet = ToyUNet()
    guider = PerpNegGuider(toy_model(unet), (text(P),), (text(N),), (text(E),), 5.0, 0.7)
    tap = UncondTap()
    out = guider.tapped_denoiser(LATENT, None, tap)(X, SIGMA)
    p, n, e = (by_hand(X, 3.0, v) for v in (P, N, E))
    pos, neg = p - e, n - e
    perp = neg - (neg * pos).sum() / (pos.norm() ** 2) * pos  # one projection for the batch
    torch.testing.assert_close(out, e + 5.0 * (pos - 0.7 * perp), rtol=1e-6, atol=1e-6)
    assert abs(float((perp * pos).sum())) < 1e-3  # perpendicular indeed
    torch.testing.assert_close(tap.latest("test"), n)
    assert unet.rows == [6]


def test_perp_neg_without_negative_scale_skips_the_negative() -> None:
    unet = ToyUNet()
    guider = PerpNegGuider(toy_model(unet), (text(P),), (text(N),), (text(E),), 4.0, 0.0)
    out = guider.denoiser(LATENT, None)(X, SIGMA)
    p, e = by_hand(X, 3.0, P), by_hand(X, 3.0, E)
    torch.testing.assert_close(out, e + 4.0 * (p - e), rtol=1e-6, atol=1e-6)
    assert unet.rows == [4]


def test_basic_guider_is_the_positive_prediction_and_has_no_uncond() -> None:
    guider = BasicGuider(toy_model(), (text(P),))
    torch.testing.assert_close(guider.denoiser(LATENT, None)(X, SIGMA), by_hand(X, 3.0, P))
    assert not isinstance(guider, UncondGuider)
    assert isinstance(CFGGuider(toy_model(), (), (), 1.0), UncondGuider)
    sigmas = sigmas_karras(3, 0.1, 10.0)
    with pytest.raises(ValueError, match="'euler_cfg_pp'.*BasicGuider"):
        sample(guider, SAMPLERS["euler_cfg_pp"], sigmas, SeededNoise(1), LATENT)


@pytest.mark.parametrize("cfg", [1.0, 6.0])
def test_cfg_pp_through_sample_uses_the_unconditional_prediction(cfg: float) -> None:
    # CFG++ DDIM (Chung et al. 2024, Alg. 1): x <- x0_guided + sigma_next * eps_uncond; at cfg 1
    # the negative side is still evaluated (ComfyUI's disable_cfg1_optimization).
    unet = ToyUNet()
    model = toy_model(unet)
    sigmas = sigmas_karras(4, 0.1, 10.0)
    out = sample(CFGGuider(model, (text(P),), (text(N),), cfg), SAMPLERS["euler_cfg_pp"], sigmas,
                 SeededNoise(7), LATENT)
    x = SeededNoise(7).generate(LATENT) * float(sigmas[0])  # below sigma_max: sigma * noise
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        cond, uncond = by_hand(x, s, P), by_hand(x, s, N)
        x = uncond + (cond - uncond) * cfg + s_next * (x - uncond) / s
    torch.testing.assert_close(out, model.latent_format.process_out(x), rtol=1e-5, atol=1e-5)
    assert unet.rows == [4] * 4
