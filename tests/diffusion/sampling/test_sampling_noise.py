"""Initial noise and step noise reproduce ComfyUI's streams without touching the global RNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from diffusion.sampling import (
    brownian_tree_noise_sampler,
    gaussian_noise_sampler,
    prepare_noise,
    seeded_generator,
)

SEEDS = (0, 156680208700286, 2**64 - 1)


def comfyui_prepare_noise(latent: Tensor, seed: int, noise_inds: list[int] | None) -> Tensor:
    """ComfyUI's comfy/sample.py algorithm, literally: it seeds the *global* CPU generator."""
    with torch.random.fork_rng(devices=[]):
        generator = torch.manual_seed(seed)
        if noise_inds is None:
            return torch.randn(
                latent.size(), dtype=latent.dtype, layout=latent.layout, generator=generator
            )
        unique_inds, inverse = np.unique(noise_inds, return_inverse=True)
        noises = []
        for i in range(unique_inds[-1] + 1):
            noise = torch.randn(
                [1] + list(latent.size())[1:], dtype=latent.dtype, generator=generator
            )
            if i in unique_inds:
                noises.append(noise)
        return torch.cat([noises[i] for i in inverse], dim=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(2, 4, 8, 8), (3, 4, 18, 18), (1, 4, 3, 5)])
def test_prepare_noise_bit_equal_without_batch_index(seed: int, shape: tuple[int, ...]) -> None:
    latent = torch.zeros(shape)
    ours = prepare_noise(latent, seed)
    assert ours.shape == shape and ours.dtype == torch.float32
    assert torch.equal(ours, comfyui_prepare_noise(latent, seed, None))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch_index", [[0, 1, 2], [2, 0, 2], [5, 1, 3], [4]])
@pytest.mark.parametrize("sample_shape", [(4, 18, 18), (4, 3, 5)])
def test_prepare_noise_bit_equal_with_batch_index(
    seed: int, batch_index: list[int], sample_shape: tuple[int, ...]
) -> None:
    latent = torch.zeros(
        len(batch_index), *sample_shape
    )  # (B, 4, H, W); 60 is not a multiple of 16
    ours = prepare_noise(latent, seed, batch_index)
    assert ours.shape == latent.shape
    assert torch.equal(ours, comfyui_prepare_noise(latent, seed, batch_index))


def test_batch_index_gives_each_sample_its_own_noise() -> None:
    latent = torch.zeros(3, 4, 18, 18)
    batch = prepare_noise(latent, 7, [0, 1, 2])
    alone = prepare_noise(latent[:1], 7, [2])
    assert torch.equal(batch[2:3], alone)
    assert not torch.equal(batch[0], batch[1])


def test_prepare_noise_leaves_global_rng_alone() -> None:
    before = torch.get_rng_state()
    prepare_noise(torch.zeros(1, 4, 8, 8), 123)
    prepare_noise(torch.zeros(2, 4, 8, 8), 123, [3, 1])
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True])
def test_bad_seed_is_named(seed: object) -> None:
    with pytest.raises((ValueError, TypeError), match="seed"):
        prepare_noise(torch.zeros(1, 4, 8, 8), seed)  # type: ignore[arg-type]


def test_bad_batch_index_is_named() -> None:
    with pytest.raises(ValueError, match="batch_index"):
        prepare_noise(torch.zeros(2, 4, 8, 8), 1, [0])
    with pytest.raises(ValueError, match="batch_index"):
        prepare_noise(torch.zeros(2, 4, 8, 8), 1, [0, -1])


def test_private_generator_matches_global_seeding_for_high_seeds() -> None:
    for seed in (2**63 - 1, 2**63, 2**64 - 1):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            expected = torch.randn(64)
        assert torch.equal(torch.randn(64, generator=seeded_generator(seed)), expected)


def test_gaussian_noise_sampler_is_comfyui_default_stream() -> None:
    x = torch.zeros(2, 4, 5, 5)
    sampler = gaussian_noise_sampler(x, seed=41)
    gen = torch.Generator().manual_seed(42)  # ComfyUI offsets the CPU seed by one
    first, second = sampler(torch.tensor(2.0), torch.tensor(1.0)), sampler(torch.tensor(1.0), 0)
    assert torch.equal(first, torch.randn(x.shape, generator=gen))
    assert torch.equal(second, torch.randn(x.shape, generator=gen))
    wrapped = gaussian_noise_sampler(x, seed=2**64 - 1)(torch.tensor(1.0), torch.tensor(0.5))
    assert torch.equal(wrapped, torch.randn(x.shape, generator=torch.Generator().manual_seed(0)))


def test_brownian_noise_is_seeded_and_additive() -> None:
    x = torch.zeros(20000, dtype=torch.float64)
    a, b, c = (torch.tensor(v, dtype=torch.float64) for v in (8.0, 2.0, 0.5))

    def increments(seed: int) -> tuple[Tensor, Tensor, Tensor]:
        sampler = brownian_tree_noise_sampler(x, 0.1, 10.0, seed)
        return sampler(a, b), sampler(b, c), sampler(a, c)

    ab, bc, ac = increments(5)
    again = increments(5)
    assert all(torch.equal(p, q) for p, q in zip((ab, bc, ac), again, strict=True))
    assert not torch.equal(ab, increments(6)[0])
    # Unit variance per call, and W(a->c) = W(a->b) + W(b->c) for the unnormalised increments.
    for n in (ab, bc, ac):
        assert abs(float(n.var()) - 1.0) < 0.05 and abs(float(n.mean())) < 0.03
    total = ab * (a - b).sqrt() + bc * (b - c).sqrt()
    torch.testing.assert_close(total, ac * (a - c).sqrt(), rtol=1e-5, atol=1e-5)
