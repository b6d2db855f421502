"""LatentBatch, LatentBatchSeedBehavior, RebatchLatents and LatentCompositeMasked: batch
positions, masks and pastes computed by hand."""

from __future__ import annotations

import torch

from nodes.latents.batch_ops import LatentBatch, LatentBatchSeedBehavior
from nodes.latents.composite import LatentCompositeMasked
from nodes.latents.rebatch import RebatchLatents, rebatch
from nodes.payloads import Latent
from tests.nodes.latents.support import call, grid


def test_latent_batch_appends_resized_and_keeps_noise_positions() -> None:
    first = Latent(torch.zeros((2, 4, 4, 4)), batch_index=(4, 5))
    second = Latent(torch.full((1, 4, 2, 2), 7.0))
    out = call(LatentBatch, first, second)
    assert out.samples.shape == (3, 4, 4, 4) and torch.allclose(out.samples[2], torch.tensor(7.0))
    assert out.batch_index == (4, 5, 0)
    plain = call(LatentBatch, Latent(torch.zeros((1, 4, 4, 4))), first)
    assert plain.batch_index == (0, 4, 5)


def test_seed_behavior() -> None:
    indexed = Latent(torch.zeros((3, 4, 2, 2)), batch_index=(3, 4, 5))
    assert call(LatentBatchSeedBehavior, indexed, "fixed").batch_index == (3, 3, 3)
    assert call(LatentBatchSeedBehavior, Latent(torch.zeros((2, 4, 2, 2))),
                "fixed").batch_index == (0, 0)
    assert call(LatentBatchSeedBehavior, indexed, "random").batch_index is None


def test_rebatch_regroups_with_running_positions_and_masks() -> None:
    three = Latent(grid(3, 1, 1, 1))
    half = torch.full((1, 1, 8, 8), 0.5)  # one mask for a batch of 2: repeated
    two = Latent(grid(2, 1, 1, 1) + 10, noise_mask=half)
    out = rebatch([three, two], 2)
    assert [o.samples.flatten().tolist() for o in out] == [[0.0, 1.0], [2.0, 10.0], [11.0]]
    assert [o.batch_index for o in out] == [(0, 1), (2, 3), (4,)]
    assert out[0].noise_mask is None  # all ones: dropped
    assert out[1].noise_mask[:, 0, 0, 0].tolist() == [1.0, 0.5] and out[2].noise_mask.shape[0] == 1


def test_rebatch_closes_a_batch_when_the_size_changes() -> None:
    small, big = Latent(torch.zeros((1, 4, 2, 2))), Latent(torch.zeros((2, 4, 3, 3)))
    out = call(RebatchLatents, [small, big, small], [4])
    assert [tuple(o.samples.shape) for o in out] == [(1, 4, 2, 2), (2, 4, 3, 3), (1, 4, 2, 2)]
    assert [o.batch_index for o in out] == [(0,), (1, 2), (3,)]
    exact = rebatch([Latent(torch.zeros((4, 4, 2, 2)))], 2)  # full batches, no remainder
    assert [o.batch_index for o in exact] == [(0, 1), (2, 3)]


def test_composite_masked_pastes_weighted_and_clipped() -> None:
    destination = Latent(torch.zeros((1, 1, 4, 4)), batch_index=(1,))
    source = Latent(torch.ones((1, 1, 2, 2)))
    out = call(LatentCompositeMasked, destination, source, 16, 8, False)
    expected = torch.zeros((4, 4))
    expected[1:3, 2:4] = 1.0
    assert torch.equal(out.samples[0, 0], expected) and out.batch_index == (1,)
    mask = torch.tensor([[1.0, 0.0], [0.5, 1.0]])
    weighted = call(LatentCompositeMasked, destination, source, 24, 16, False, mask)
    corner = torch.zeros((4, 4))
    corner[2:4, 3] = torch.tensor([1.0, 0.5])  # only the left column of the source is inside
    assert torch.equal(weighted.samples[0, 0], corner)
    resized = call(LatentCompositeMasked, destination, source, 0, 0, True)
    assert torch.equal(resized.samples, torch.ones((1, 1, 4, 4)))
    assert not destination.samples.any()
