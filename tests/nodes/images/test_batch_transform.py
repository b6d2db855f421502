"""Batch and transform nodes against hand-computed tensors (ComfyUI's semantics)."""

from __future__ import annotations

import pytest
import torch

from nodes.images.batch import GetImageSize, ImageFromBatch, RebatchImages, RepeatImageBatch
from nodes.images.transform import (
    ImageFlip,
    ImageRotate,
    ImageScaleToMaxDimension,
    ImageStitch,
    ResizeAndPadImage,
)
from tests.nodes.images.helpers import FakeContext

CTX = FakeContext()


def numbered(batch: int, height: int = 1, width: int = 1) -> torch.Tensor:
    """(B, H, W, 3) where every pixel of image b is b."""
    return torch.arange(batch, dtype=torch.float32).view(-1, 1, 1, 1).expand(
        batch, height, width, 3).clone()


def grid(rows: list[list[float]]) -> torch.Tensor:
    """(1, H, W, 1) from rows of values."""
    return torch.tensor(rows, dtype=torch.float32)[None, :, :, None]


def test_get_image_size_is_width_height_batch() -> None:
    assert GetImageSize().run(CTX, torch.zeros(2, 3, 5, 3)) == (5, 3, 2)
    with pytest.raises(ValueError, match="GetImageSize input 'image'"):
        GetImageSize().run(CTX, torch.zeros(3, 5, 3))


def test_image_from_batch_clamps_index_and_length() -> None:
    images = numbered(3)
    [tail] = ImageFromBatch().run(CTX, images, 5, 2)  # index → 2, length → 1
    assert tail[:, 0, 0, 0].tolist() == [2.0]
    [middle] = ImageFromBatch().run(CTX, images, 1, 5)  # length → 2
    assert middle[:, 0, 0, 0].tolist() == [1.0, 2.0]
    middle.add_(1)
    assert images[1:, 0, 0, 0].tolist() == [1.0, 2.0]  # a copy


def test_repeat_image_batch_repeats_the_whole_batch() -> None:
    [out] = RepeatImageBatch().run(CTX, numbered(2), 3)
    assert out[:, 0, 0, 0].tolist() == [0, 1, 0, 1, 0, 1]


def test_rebatch_images_flattens_the_list_and_regroups() -> None:
    first, second = numbered(3), numbered(2) + 3
    [batches] = RebatchImages().run(CTX, [first, second], [2])
    assert [b[:, 0, 0, 0].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    [mixed] = RebatchImages().run(CTX, [numbered(1, 2, 2), numbered(1, 3, 3)], [1])
    assert [tuple(b.shape) for b in mixed] == [(1, 2, 2, 3), (1, 3, 3, 3)]  # never share
    with pytest.raises(ValueError, match="RebatchImages input 'images'.*share a batch of 2"):
        RebatchImages().run(CTX, [numbered(1, 2, 2), numbered(1, 3, 3)], [2])


def test_flip_x_axis_is_upside_down_y_axis_is_mirrored() -> None:
    image = grid([[1, 2], [3, 4]])
    [x] = ImageFlip().run(CTX, image, "x-axis: vertically")
    [y] = ImageFlip().run(CTX, image, "y-axis: horizontally")
    assert torch.equal(x, grid([[3, 4], [1, 2]]))
    assert torch.equal(y, grid([[2, 1], [4, 3]]))


def test_rotate_is_clockwise() -> None:
    image = grid([[1, 2, 3], [4, 5, 6]])
    turned = {r: ImageRotate().run(CTX, image, r)[0] for r in
              ("none", "90 degrees", "180 degrees", "270 degrees")}
    assert torch.equal(turned["none"], image)
    assert torch.equal(turned["90 degrees"], grid([[4, 1], [5, 2], [6, 3]]))
    assert torch.equal(turned["180 degrees"], grid([[6, 5, 4], [3, 2, 1]]))
    assert torch.equal(turned["270 degrees"], grid([[3, 6], [2, 5], [1, 4]]))


def test_scale_to_max_dimension_rounds_the_short_side() -> None:
    node = ImageScaleToMaxDimension()
    [wide] = node.run(CTX, torch.rand(1, 3, 4, 3), "nearest-exact", 6)
    assert wide.shape == (1, 4, 6, 3)  # 3 / 4 · 6 = 4.5 → round() = 4
    [tall] = node.run(CTX, torch.rand(1, 4, 2, 3), "bilinear", 8)
    assert tall.shape == (1, 8, 4, 3)
    [square] = node.run(CTX, torch.rand(1, 3, 3, 3), "area", 5)
    assert square.shape == (1, 5, 5, 3)
    image = grid([[0.0, 1.0]])
    [doubled] = node.run(CTX, image, "nearest-exact", 4)
    assert torch.equal(doubled, grid([[0, 0, 1, 1], [0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="largest_size"):
        node.run(CTX, torch.rand(1, 1, 4, 3), "area", 0)


def test_resize_and_pad_centres_and_truncates() -> None:
    image = torch.full((1, 2, 4, 3), 0.5)
    [out] = ResizeAndPadImage().run(CTX, image, 8, 7, "black", "nearest-exact")
    # scale min(8/4, 7/2) = 2 → 8 × 4, top (7 - 4) // 2 = 1, bottom 2 rows of padding
    assert out.shape == (1, 7, 8, 3)
    assert out[0, :, 0, 0].tolist() == [0.0, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0]
    [white] = ResizeAndPadImage().run(CTX, torch.zeros(1, 3, 7, 3), 5, 5, "white", "area")
    # scale 5/7: 7 → 5, 3 → int(2.14…) = 2; rows 1 and 2 hold the image
    assert white[0, :, 2, 0].tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]


def test_stitch_without_image2_returns_image1() -> None:
    image = torch.rand(1, 2, 2, 3)
    assert ImageStitch().run(CTX, image, "right", True, 0, "white")[0] is image


def test_stitch_pads_the_lower_image_centred_with_the_colour() -> None:
    image1, image2 = torch.zeros(1, 2, 2, 3), torch.full((1, 4, 1, 3), 0.5)
    [out] = ImageStitch().run(CTX, image1, "right", False, 0, "white", image2)
    assert out.shape == (1, 4, 3, 3)
    assert out[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0, 1.0]  # padded 1 above, 1 below
    assert out[0, :, 2, 0].tolist() == [0.5] * 4


def test_stitch_up_puts_image2_first_with_red_spacing() -> None:
    image1, image2 = torch.zeros(1, 1, 2, 3), torch.full((1, 1, 2, 3), 0.5)
    [out] = ImageStitch().run(CTX, image1, "up", False, 2, "red", image2)
    assert out.shape == (1, 4, 2, 3)
    assert out[0, :, 0].tolist() == [[0.5] * 3, [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0] * 3]


def test_stitch_matches_size_batch_and_channels() -> None:
    image1 = torch.zeros(2, 4, 4, 4)  # RGBA, batch 2
    image2 = torch.ones(1, 2, 4, 3)  # aspect 2, batch 1, RGB
    [out] = ImageStitch().run(CTX, image1, "left", True, 0, "black", image2)
    # image2 → height 4, width int(4 · 2) = 8 (Lanczos), repeated, given alpha 1, put left
    assert out.shape == (2, 4, 12, 4)
    assert torch.equal(out[:, :, :8], torch.ones(2, 4, 8, 4))
    assert torch.equal(out[:, :, 8:], image1)
