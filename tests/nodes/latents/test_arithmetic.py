"""LatentAdd, LatentSubtract, LatentMultiply, LatentInterpolate and LatentBlend against values
computed by hand, with ComfyUI's reshaping (resize, batch repeat) and kept fields."""

from __future__ import annotations

import math

import pytest
import torch

from nodes.latents.arithmetic import (
    LatentAdd,
    LatentBlend,
    LatentInterpolate,
    LatentMultiply,
    LatentSubtract,
)
from nodes.payloads import Latent
from tests.nodes.latents.support import call, grid


def test_add_repeats_the_batch_and_keeps_the_first_latents_fields() -> None:
    mask = torch.ones((1, 1, 16, 16))
    first = Latent(grid(2, 2, 2, 2), mask, (5, 6))
    second = Latent(torch.full((1, 2, 2, 2), 10.0))
    out = call(LatentAdd, first, second)
    assert torch.equal(out.samples, grid(2, 2, 2, 2) + 10.0)
    assert out.noise_mask is mask and out.batch_index == (5, 6)
    assert torch.equal(first.samples, grid(2, 2, 2, 2))  # inputs untouched


def test_subtract_resizes_a_differently_sized_second_latent() -> None:
    first = Latent(grid(1, 2, 4, 4))
    constant = Latent(torch.full((1, 2, 1, 1), 3.0))  # bilinear of a constant: the constant
    out = call(LatentSubtract, first, constant)
    assert torch.allclose(out.samples, grid(1, 2, 4, 4) - 3.0)
    with pytest.raises(ValueError, match="LatentSubtract: samples2 has 3 channels"):
        call(LatentSubtract, first, Latent(torch.zeros((1, 3, 4, 4))))


def test_multiply() -> None:
    out = call(LatentMultiply, Latent(grid(1, 1, 1, 3)), -2.0)
    assert out.samples.flatten().tolist() == [0.0, -2.0, -4.0]


def _vectors(*pairs: tuple[float, float]) -> torch.Tensor:
    """(1, 2, 1, N): one 2-channel vector per position."""
    return torch.tensor(pairs).T.reshape(1, 2, 1, len(pairs))


def test_interpolate_blends_directions_and_lengths_separately() -> None:
    first = Latent(_vectors((3.0, 4.0), (0.0, 0.0)))
    second = Latent(_vectors((0.0, 2.0), (0.0, 2.0)))
    out = call(LatentInterpolate, first, second, 0.5).samples[0, :, 0].T  # (N, 2)
    # (3,4): direction (.6,.8), length 5; (0,2): direction (0,1), length 2.
    # Blend (.3,.9) renormalised, times length 3.5.
    norm = math.sqrt(0.3**2 + 0.9**2)
    assert torch.allclose(out[0], torch.tensor([0.3 / norm * 3.5, 0.9 / norm * 3.5]))
    # A zero vector has no direction (NaN -> 0): (0, .5) -> (0, 1), length 0 * .5 + 2 * .5.
    assert torch.allclose(out[1], torch.tensor([0.0, 1.0]))
    same = call(LatentInterpolate, first, second, 1.0).samples
    assert torch.allclose(same, first.samples)


def test_interpolate_refuses_the_batches_comfyui_fails_on() -> None:
    latents = Latent(torch.ones((2, 4, 2, 2)))
    with pytest.raises(ValueError, match="LatentInterpolate: .* batch of 1 or of 4"):
        call(LatentInterpolate, latents, latents, 0.5)


def test_blend_weights_and_resizes_bicubically() -> None:
    first, second = Latent(torch.full((1, 4, 4, 4), 2.0)), Latent(torch.zeros((1, 4, 2, 2)))
    out = call(LatentBlend, first, second, 0.25)
    assert torch.allclose(out.samples, torch.full((1, 4, 4, 4), 0.5))
