"""Morphology, YUV and alpha nodes against hand-computed values (ComfyUI's semantics:
kornia 0.8's windows and geodesic borders, kornia's YCbCr, ComfyUI's Porter–Duff)."""

from __future__ import annotations

import pytest
import torch

from nodes.images.alpha import JoinImageWithAlpha, PorterDuffImageComposite, SplitImageWithAlpha
from nodes.images.morphology import ImageRGBToYUV, ImageYUVToRGB, Morphology
from tests.nodes.images.helpers import FakeContext

CTX = FakeContext()


def row(values: list[float]) -> torch.Tensor:
    """(1, 1, W, 1)."""
    return torch.tensor(values, dtype=torch.float32).view(1, 1, -1, 1)


def values(image: torch.Tensor) -> list[float]:
    return [round(v, 6) for v in image.flatten().tolist()]


@pytest.mark.parametrize(("operation", "expected"), [
    ("erode", [0, 0, 0, 0, 0]),
    ("dilate", [1, 1, 1, 0.5, 0.5]),  # outside pixels ignored: the edge keeps 0.5
    ("open", [0, 0, 0, 0, 0]),
    ("close", [1, 1, 0.5, 0.5, 0.5]),
    ("gradient", [1, 1, 1, 0.5, 0.5]),
    ("top_hat", [0, 1, 0, 0, 0.5]),
    ("bottom_hat", [1, 0, 0.5, 0.5, 0]),
])
def test_morphology_on_a_row(operation: str, expected: list[float]) -> None:
    [out] = Morphology().run(CTX, row([0, 1, 0, 0, 0.5]), operation, 3)
    assert values(out) == expected


def test_even_kernels_reach_further_back_than_forward() -> None:
    # kernel 4: the window of x is [x − 2, x + 1] (kornia's origin k // 2)
    [out] = Morphology().run(CTX, row([0, 0, 1, 0, 0, 0]), "dilate", 4)
    assert values(out) == [0, 1, 1, 1, 1, 0]


def test_dilating_a_point_makes_a_square_in_every_channel() -> None:
    image = torch.zeros(1, 5, 5, 4)
    image[0, 2, 2] = torch.tensor([1.0, 0.5, 0.25, 1.0])
    [out] = Morphology().run(CTX, image, "dilate", 3)
    expected = torch.zeros(1, 5, 5, 4)
    expected[0, 1:4, 1:4] = torch.tensor([1.0, 0.5, 0.25, 1.0])
    assert torch.equal(out, expected)
    [huge] = Morphology().run(CTX, image, "erode", 999)
    assert torch.equal(huge, torch.zeros_like(image))


def test_yuv_is_kornias_ycbcr_and_round_trips() -> None:
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 1, 1, 3)
    y, u, v = ImageRGBToYUV().run(CTX, red)
    assert y.shape == u.shape == v.shape == (1, 1, 1, 3)
    assert torch.allclose(y, torch.full_like(y, 0.299))
    assert torch.allclose(u, torch.full_like(u, (0 - 0.299) * 0.564 + 0.5))
    assert torch.allclose(v, torch.full_like(v, (1 - 0.299) * 0.713 + 0.5))
    [back] = ImageYUVToRGB().run(CTX, y, u, v)
    assert torch.allclose(back, red, atol=3e-4) and back.max() <= 1.0  # clamped
    with pytest.raises(ValueError, match="ImageRGBToYUV input 'image': expected RGB"):
        ImageRGBToYUV().run(CTX, torch.zeros(1, 1, 1, 4))


def test_join_makes_alpha_from_the_inverted_mask() -> None:
    image = torch.rand(2, 2, 2, 4)
    mask = torch.tensor([[0.0, 1.0], [0.5, 0.0]])  # (H, W): one mask for both images
    [out] = JoinImageWithAlpha().run(CTX, image, mask)
    assert out.shape == (2, 2, 2, 4)
    assert torch.equal(out[..., :3], image[..., :3])
    assert out[0, ..., 3].tolist() == [[1.0, 0.0], [0.5, 1.0]] == out[1, ..., 3].tolist()
    [resized] = JoinImageWithAlpha().run(CTX, torch.rand(1, 2, 2, 3), torch.ones(3, 1, 2))
    assert resized.shape == (3, 2, 2, 4) and torch.equal(resized[..., 3], torch.zeros(3, 2, 2))


def test_split_gives_rgb_and_inverted_alpha() -> None:
    rgba = torch.rand(1, 1, 2, 4)
    rgba[..., 3] = torch.tensor([1.0, 0.25])
    image, mask = SplitImageWithAlpha().run(CTX, rgba)
    assert torch.equal(image, rgba[..., :3]) and mask.tolist() == [[[0.0, 0.75]]]
    _, opaque = SplitImageWithAlpha().run(CTX, torch.rand(1, 1, 2, 3))
    assert torch.equal(opaque, torch.zeros(1, 1, 2))


@pytest.mark.parametrize(("mode", "colour", "mask"), [
    ("SRC_OVER", 0.625, 0.0),  # alpha 0.5 + 0.5 · 1; colour (1 · 0.5 + 0.5 · 0.25) / 1
    ("ADD", 0.75, 0.0),  # alpha clamp(1.5); colour clamp(0.5 + 0.25)
    ("DST_OUT", 0.0, 0.5),  # alpha (1 − 0.5) · 1; colour 0.5 · 0 / 0.5
    ("SRC_IN", 1.0, 0.5),  # alpha 0.5 · 1; colour 0.5 · 1 / 0.5
    ("CLEAR", 0.0, 1.0),
])
def test_porter_duff(mode: str, colour: float, mask: float) -> None:
    source, source_mask = torch.ones(1, 2, 2, 3), torch.full((1, 2, 2), 0.5)
    destination, destination_mask = torch.full((1, 2, 2, 3), 0.25), torch.zeros(1, 2, 2)
    if mode == "DST_OUT":
        destination = torch.zeros(1, 2, 2, 3)
    image, alpha = PorterDuffImageComposite().run(CTX, source, source_mask, destination,
                                                  destination_mask, mode)
    assert torch.allclose(image, torch.full((1, 2, 2, 3), colour))
    assert torch.allclose(alpha, torch.full((1, 2, 2), mask))


def test_porter_duff_resizes_to_the_destination_and_takes_the_shortest_batch() -> None:
    image, alpha = PorterDuffImageComposite().run(
        CTX, torch.ones(3, 4, 4, 3), torch.zeros(1, 4, 4), torch.zeros(2, 2, 2, 3),
        torch.zeros(8, 8), "SRC")
    assert image.shape == (1, 2, 2, 3) and alpha.shape == (1, 2, 2)
    assert torch.allclose(image, torch.ones(1, 2, 2, 3)) and torch.allclose(alpha, 0 * alpha)
    with pytest.raises(ValueError, match="channels"):
        PorterDuffImageComposite().run(CTX, torch.ones(1, 2, 2, 4), torch.zeros(1, 2, 2),
                                       torch.ones(1, 2, 2, 3), torch.zeros(1, 2, 2), "SRC")
