"""Blend, blur, sharpen, noise and quantize against hand-computed values (ComfyUI's
semantics)."""

from __future__ import annotations

import math

import pytest
import torch

from nodes.images.filters import ImageAddNoise, ImageBlend, ImageBlur, ImageSharpen
from nodes.images.quantize import ImageQuantize, bayer_matrix
from tests.nodes.images.helpers import FakeContext

CTX = FakeContext()
# ComfyUI's 3 × 3 Gaussian at sigma 1 over [-1, 1]²: centre 1, edges e^-0.5, corners e^-1.
EDGE, CORNER = math.exp(-0.5), math.exp(-1.0)
TOTAL = 1 + 4 * EDGE + 4 * CORNER


def flat(value: float, height: int = 1, width: int = 1) -> torch.Tensor:
    return torch.full((1, height, width, 3), value)


def spike(centre: float = 1.0, rest: float = 0.0) -> torch.Tensor:
    image = torch.full((1, 3, 3, 1), rest)
    image[0, 1, 1, 0] = centre
    return image


@pytest.mark.parametrize(("mode", "factor", "expected"), [
    ("normal", 0.5, 0.4),  # 0.2 · 0.5 + 0.6 · 0.5
    ("multiply", 1.0, 0.12),
    ("screen", 1.0, 0.68),  # 1 − 0.8 · 0.4
    ("overlay", 1.0, 0.24),  # image1 ≤ 0.5: 2 · 0.2 · 0.6
    ("soft_light", 1.0, 0.2496),  # 0.2 + 0.2 · (g(0.2) − 0.2), g(0.2) = 0.448
    ("difference", 0.5, 0.0),  # 0.1 + 0.5 · (0.2 − 0.6) < 0 → clamped
])
def test_blend_modes(mode: str, factor: float, expected: float) -> None:
    [out] = ImageBlend().run(CTX, flat(0.2), flat(0.6), factor, mode)
    assert torch.allclose(out, flat(expected), atol=1e-6)


def test_blend_resizes_image2_and_broadcasts_a_single_image() -> None:
    [out] = ImageBlend().run(CTX, torch.full((2, 4, 4, 3), 0.6), flat(0.2, 2, 2), 1.0,
                             "difference")
    assert out.shape == (2, 4, 4, 3) and torch.allclose(out, torch.full_like(out, 0.4))
    with pytest.raises(ValueError, match="ImageBlend"):
        ImageBlend().run(CTX, torch.rand(2, 1, 1, 3), torch.rand(3, 1, 1, 3), 0.5, "normal")


def test_blur_uses_comfyuis_relative_sigma_and_reflected_edges() -> None:
    [out] = ImageBlur().run(CTX, spike(), 1, 1.0)
    # the spike reaches each pixel once directly and, past a reflected edge, once more
    expected = torch.tensor([[4 * CORNER, 2 * EDGE, 4 * CORNER],
                             [2 * EDGE, 1.0, 2 * EDGE],
                             [4 * CORNER, 2 * EDGE, 4 * CORNER]]) / TOTAL
    assert torch.allclose(out[0, :, :, 0], expected, atol=1e-6)
    [same] = ImageBlur().run(CTX, flat(0.3, 4, 4), 2, 0.5)
    assert torch.allclose(same, flat(0.3, 4, 4), atol=1e-6)
    with pytest.raises(ValueError, match="ImageBlur: radius 3"):
        ImageBlur().run(CTX, flat(0.3, 3, 3), 3, 1.0)


def test_sharpen_kernel_sums_to_one_and_clamps() -> None:
    # alpha 0.1: kernel −G everywhere, centre 2 − G(centre): 0.5 · (2 − g) − 0.2 · (1 − g)
    [out] = ImageSharpen().run(CTX, spike(0.5, 0.2), 1, 1.0, 0.1)
    g = 1 / TOTAL
    assert math.isclose(out[0, 1, 1, 0].item(), 0.8 - 0.3 * g, rel_tol=1e-5)
    [same] = ImageSharpen().run(CTX, flat(0.3, 3, 3), 1, 1.0, 2.0)
    assert torch.allclose(same, flat(0.3, 3, 3), atol=1e-5)
    [clamped] = ImageSharpen().run(CTX, spike(), 1, 1.0, 1.0)
    assert clamped[0, 1, 1, 0].item() == 1.0 and clamped.min().item() == 0.0


def test_add_noise_draws_comfyuis_stream_without_touching_the_global_rng() -> None:
    image = torch.full((2, 3, 4, 3), 0.5)
    with torch.random.fork_rng():
        torch.manual_seed(1234)  # what ComfyUI does, globally
        reference = torch.clip(image + 0.25 * torch.randn(image.size()), 0.0, 1.0)
    state = torch.random.get_rng_state()
    [out] = ImageAddNoise().run(CTX, image, 1234, 0.25)
    assert torch.equal(out, reference)
    assert torch.equal(torch.random.get_rng_state(), state)
    [big] = ImageAddNoise().run(CTX, image, 2**64 - 1, 1.0)
    assert big.min() >= 0 and big.max() <= 1 and not torch.equal(big, out)


def test_quantize_keeps_exact_palettes_and_truncates_to_8_bits() -> None:
    two = torch.zeros(1, 2, 2, 3)
    two[0, 0, :, 0] = 1.0  # red row over a black row
    for dither in ("none", "floyd-steinberg", "bayer-2", "bayer-16"):
        [out] = ImageQuantize().run(CTX, two, 2, dither)
        assert torch.equal(out, two), dither
    [grey] = ImageQuantize().run(CTX, flat(0.999, 2, 2), 256, "none")
    assert torch.allclose(grey, flat(254 / 255, 2, 2))  # 254.745 → 254, as ComfyUI
    rgba = torch.cat([flat(0.999, 2, 2), torch.full((1, 2, 2, 1), 0.3)], dim=-1)
    [kept] = ImageQuantize().run(CTX, rgba, 4, "none")
    assert torch.equal(kept[..., 3], rgba[..., 3])


def test_quantize_reduces_to_the_palette_size() -> None:
    ramp = torch.linspace(0, 1, 16).view(1, 1, 16, 1).expand(1, 2, 16, 3).contiguous()
    for dither in ("none", "floyd-steinberg", "bayer-4"):
        [out] = ImageQuantize().run(CTX, ramp, 4, dither)
        assert len(torch.unique(out.reshape(-1, 3), dim=0)) <= 4, dither


def test_bayer_matrices() -> None:
    assert bayer_matrix(2).tolist() == [[-0.375, 0.125], [0.375, -0.125]]
    four = bayer_matrix(4) * 16
    assert four.tolist()[0] == [-7.5, 0.5, -5.5, 2.5]
    assert sorted(four.flatten().tolist()) == [v - 7.5 for v in range(16)]
