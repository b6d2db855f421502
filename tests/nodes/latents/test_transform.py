"""LatentCrop, LatentFlip, LatentRotate, LatentConcat and LatentCut against hand-picked slices
of numbered latents, with ComfyUI's clamping."""

from __future__ import annotations

import torch

from nodes.latents.transform import LatentConcat, LatentCrop, LatentCut, LatentFlip, LatentRotate
from nodes.payloads import Latent
from tests.nodes.latents.support import call, grid


def test_crop_in_pixels_with_comfyuis_clamp() -> None:
    source = Latent(grid(1, 1, 10, 12), batch_index=(2,))
    out = call(LatentCrop, source, 64, 64, 16, 8)  # 8 x 8 at column 2, row 1
    assert torch.equal(out.samples, source.samples[:, :, 1:9, 2:10]) and out.batch_index == (2,)
    clamped = call(LatentCrop, source, 64, 64, 800, 800)  # x, y clamped to 12 - 8, 10 - 8
    assert torch.equal(clamped.samples, source.samples[:, :, 2:10, 4:12])
    wide = call(LatentCrop, source, 512, 512, 0, 0)  # past the edge: what there is
    assert torch.equal(wide.samples, source.samples)


def test_flip() -> None:
    source = Latent(torch.tensor([[1.0, 2.0], [3.0, 4.0]])[None, None])
    vertical = call(LatentFlip, source, "x-axis: vertically").samples[0, 0]
    horizontal = call(LatentFlip, source, "y-axis: horizontally").samples[0, 0]
    assert vertical.tolist() == [[3.0, 4.0], [1.0, 2.0]]
    assert horizontal.tolist() == [[2.0, 1.0], [4.0, 3.0]]


def test_rotate_clockwise() -> None:
    source = Latent(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])[None, None])
    quarter = call(LatentRotate, source, "90 degrees").samples[0, 0]
    assert quarter.tolist() == [[4.0, 1.0], [5.0, 2.0], [6.0, 3.0]]
    half = call(LatentRotate, source, "180 degrees").samples[0, 0]
    assert half.tolist() == [[6.0, 5.0, 4.0], [3.0, 2.0, 1.0]]
    three = call(LatentRotate, source, "270 degrees").samples[0, 0]
    assert three.tolist() == [[3.0, 6.0], [2.0, 5.0], [1.0, 4.0]]
    assert torch.equal(call(LatentRotate, source, "none").samples, source.samples)


def test_concat_along_each_axis_repeating_the_second_batch() -> None:
    first = Latent(torch.zeros((2, 1, 1, 2)))
    second = Latent(torch.ones((1, 1, 1, 1)))
    right = call(LatentConcat, first, second, "x").samples
    assert right.shape == (2, 1, 1, 3) and right[:, 0, 0].tolist() == [[0.0, 0.0, 1.0]] * 2
    left = call(LatentConcat, first, second, "-x").samples
    assert left[1, 0, 0].tolist() == [1.0, 0.0, 0.0]
    below = call(LatentConcat, Latent(torch.zeros((1, 1, 1, 2))),
                 Latent(torch.ones((1, 1, 1, 2))), "y").samples
    assert below[0, 0].tolist() == [[0.0, 0.0], [1.0, 1.0]]
    channels = call(LatentConcat, first, Latent(torch.ones((1, 3, 1, 2))), "-t").samples
    assert channels.shape == (2, 4, 1, 2) and channels[:, 3].sum() == 0


def test_cut_clamps_index_and_amount() -> None:
    source = Latent(grid(1, 2, 3, 4))
    assert torch.equal(call(LatentCut, source, "x", 1, 2).samples, source.samples[..., 1:3])
    assert torch.equal(call(LatentCut, source, "x", 9, 5).samples, source.samples[..., 3:4])
    assert torch.equal(call(LatentCut, source, "y", -2, 5).samples, source.samples[:, :, 1:3])
    assert torch.equal(call(LatentCut, source, "y", -9, 1).samples, source.samples[:, :, 0:1])
    assert torch.equal(call(LatentCut, source, "t", 1, 1).samples, source.samples[:, 1:2])
