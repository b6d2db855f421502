"""Image ops against hand-computed tensors (scale, pad, batch, crop, empty, composite)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from executor.engine import Engine
from nodes.images.ops import (
    EmptyImage,
    ImageBatch,
    ImageCompositeMasked,
    ImageCrop,
    ImageInvert,
    ImagePadForOutpaint,
    ImageScale,
    ImageScaleBy,
    ImageScaleToTotalPixels,
)
from tests.nodes.images.helpers import FakeContext, probe

CTX = FakeContext()


def ramp(height: int, width: int, channels: int = 3, batch: int = 1) -> torch.Tensor:
    """(B, H, W, C) with distinct values: 0.01·(100·b + 10·y + x) + 0.001·c."""
    b, y, x, c = torch.meshgrid(torch.arange(batch), torch.arange(height), torch.arange(width),
                                torch.arange(channels), indexing="ij")
    return (0.01 * (100 * b + 10 * y + x) + 0.001 * c).float()


def test_nearest_exact_doubles_pixels_and_zero_keeps_aspect() -> None:
    source = ramp(2, 3)
    [out] = ImageScale().run(CTX, source, "nearest-exact", 6, 0, "disabled")
    assert out.shape == (1, 4, 6, 3)
    assert torch.equal(out, source.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2))
    [same] = ImageScale().run(CTX, source, "bilinear", 0, 0, "disabled")
    assert same is source
    [tall] = ImageScale().run(CTX, source, "nearest-exact", 0, 5, "disabled")
    assert tall.shape == (1, 5, 8, 3)  # round(3 · 5 / 2) = round(7.5) = 8


def test_bilinear_and_area_values() -> None:
    line = torch.tensor([0.0, 1.0]).reshape(1, 1, 2, 1)  # (1, H=1, W=2, 1)
    [wide] = ImageScale().run(CTX, line, "bilinear", 4, 1, "disabled")
    assert torch.allclose(wide.flatten(), torch.tensor([0.0, 0.25, 0.75, 1.0]))
    block = torch.tensor([[1.0, 3.0, 0.0, 0.0], [5.0, 7.0, 0.0, 4.0],
                          [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]]).reshape(1, 4, 4, 1)
    [small] = ImageScale().run(CTX, block, "area", 2, 2, "disabled")
    assert small.flatten().tolist() == [4.0, 1.0, 0.0, 2.0]


def test_center_crop_keeps_the_middle_columns() -> None:
    source = ramp(2, 6)
    [out] = ImageScale().run(CTX, source, "nearest-exact", 2, 2, "center")
    assert torch.equal(out, source[:, :, 2:4])  # x = round((6 − 2) / 2) = 2


def test_lanczos_matches_pillow_on_8_bit_rgb_as_comfyui() -> None:
    generator = torch.Generator().manual_seed(0)
    source = torch.rand((2, 5, 7, 3), generator=generator)
    [out] = ImageScale().run(CTX, source, "lanczos", 11, 4, "disabled")
    for index in range(2):
        pixels = np.clip(255.0 * source[index].numpy(), 0, 255).astype(np.uint8)
        expected = Image.fromarray(pixels).resize((11, 4), Image.Resampling.LANCZOS)
        assert torch.equal(out[index], torch.from_numpy(np.asarray(expected) / np.float32(255)))


def test_scale_by_and_total_pixels_sizes() -> None:
    [by] = ImageScaleBy().run(CTX, ramp(2, 3), "nearest-exact", 1.5)
    assert by.shape == (1, 3, 4, 3)  # round(4.5) = 4 (half to even), round(3.0) = 3
    with pytest.raises(ValueError, match="scale_by 0.1"):
        ImageScaleBy().run(CTX, ramp(2, 3), "bilinear", 0.1)
    [total] = ImageScaleToTotalPixels().run(CTX, torch.zeros(1, 50, 100, 3), "bilinear", 0.01)
    assert total.shape == (1, 72, 145, 3)  # sqrt(10485 / 5000) · (100, 50), rounded


def test_pad_for_outpaint_grey_border_and_feathered_mask() -> None:
    source = ramp(6, 6)
    padded, mask = ImagePadForOutpaint().run(CTX, source, 2, 0, 0, 1, 2)
    assert padded.shape == (1, 7, 8, 3)
    assert torch.equal(padded[:, :6, 2:], source)
    assert torch.all(padded[:, :, :2] == 0.5) and torch.all(padded[:, 6] == 0.5)
    inner = [[1, 0.25, 0, 0, 0, 0]] * 5 + [[1, 0.25, 0.25, 0.25, 0.25, 0.25]]
    expected = torch.ones(7, 8)
    expected[:6, 2:] = torch.tensor(inner)
    assert mask.shape == (1, 7, 8)
    assert torch.equal(mask[0], expected)
    _, unfeathered = ImagePadForOutpaint().run(CTX, source, 2, 0, 0, 1, 3)  # 2·3 ≮ 6
    assert torch.equal(unfeathered[0, :6, 2:], torch.zeros(6, 6))


def test_invert_batch_crop_empty() -> None:
    source = ramp(2, 2)
    assert torch.allclose(ImageInvert().run(CTX, source)[0], 1 - source)
    rgba = torch.zeros(1, 2, 2, 4)
    [joined] = ImageBatch().run(CTX, source, rgba)
    assert joined.shape == (2, 2, 2, 4)
    assert torch.equal(joined[0, ..., 3], torch.ones(2, 2))  # alpha added to image1
    [resized] = ImageBatch().run(CTX, source, torch.ones(1, 4, 6, 3))
    assert resized.shape == (2, 2, 2, 3) and torch.allclose(resized[1], torch.ones(2, 2, 3))
    [crop] = ImageCrop().run(CTX, ramp(3, 4), 2, 5, 10, 1)
    assert torch.equal(crop, ramp(3, 4)[:, 1:, 3:])  # x clamped to 3; region cut at the edge
    [empty] = EmptyImage().run(CTX, 4, 3, 2, 0x102030)
    assert empty.shape == (2, 3, 4, 3)
    assert torch.equal(empty[1, 2, 3], torch.tensor([16 / 255, 32 / 255, 48 / 255]))


def test_composite_with_mask_edges_and_batches() -> None:
    destination = torch.zeros(3, 4, 4, 3)
    source = torch.stack([torch.full((2, 2, 3), 1.0), torch.full((2, 2, 3), 0.5)])
    mask = torch.tensor([[1.0, 0.5], [0.0, 1.0]])
    [out] = ImageCompositeMasked().run(CTX, destination, source, 1, 1, False, mask)
    assert out.shape == (3, 4, 4, 3)
    for index, value in enumerate([1.0, 0.5, 1.0]):  # source batch repeated cyclically
        expected = torch.zeros(4, 4)
        expected[1:3, 1:3] = mask * value
        assert torch.allclose(out[index, ..., 0], expected)
    [edge] = ImageCompositeMasked().run(CTX, destination, source, 3, 3, False, None)
    expected = torch.zeros(4, 4)
    expected[3, 3] = 1.0
    assert torch.equal(edge[0, ..., 1], expected)
    [resized] = ImageCompositeMasked().run(CTX, destination, source[:1], 0, 0, True, None)
    assert torch.equal(resized, torch.ones(3, 4, 4, 3))
    [alpha] = ImageCompositeMasked().run(CTX, torch.zeros(1, 2, 2, 4), torch.zeros(1, 1, 1, 3),
                                         0, 0, False, None)
    assert alpha[0, 0, 0].tolist() == [0, 0, 0, 1] and alpha[0, 1, 1, 3] == 0


def test_ops_run_through_the_engine(engine: Engine) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 6, "height": 6, "batch_size": 1,
                                                      "color": 0xFFFFFF}},
        "2": {"class_type": "ImagePadForOutpaint", "inputs": {
            "image": ["1", 0], "left": 2, "top": 0, "right": 0, "bottom": 1, "feathering": 2}},
    }
    image = probe(engine, prompt, "2", 0)
    mask = probe(engine, prompt, "2", 1)
    assert image.shape == (1, 7, 8, 3) and mask.shape == (1, 7, 8)
    assert mask[0, 0].tolist() == [1, 1, 1, 0.25, 0, 0, 0, 0]
