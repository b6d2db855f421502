"""The maths of the attention patches on small tensors: HyperTile's divisor draw and tiling (and
the key chunks ComfyUI attends each tile to), ToMe's bipartite merge / unmerge, SAG's recorded
attention, Gaussian blur and blur map, and PAG's identity self-attention."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from diffusion.model_patches import HyperTile, PerturbedSelfAttention, TokenMerging
from diffusion.model_patches.hypertile import random_divisor, tile, untile
from diffusion.model_patches.sag import (
    attention_with_scores,
    blur_map,
    gaussian_blur,
    mask_grid,
)
from diffusion.model_patches.tome import bipartite_matching
from diffusion.unet.attention import AttentionInfo, multihead_attention


def info(kind: str = "self", block: tuple[str, int] = ("input", 1), hw: tuple[int, int] = (4, 4),
         original: tuple[int, ...] = (1, 4, 4, 4)) -> AttentionInfo:
    return AttentionInfo(kind, block, 0, 2, hw, torch.zeros(1), (), original)  # type: ignore[arg-type]


def test_random_divisor_draws_as_comfyui() -> None:
    gen = torch.Generator().manual_seed(0)
    # divisors of 8 from 2: [2, 4, 8] -> options [4, 2]; randint(0, 1) is always 0
    assert {random_divisor(8, 2, 2, gen) for _ in range(20)} == {4}
    assert random_divisor(8, 2, 1, gen) == 4
    assert random_divisor(8, 32, 2, gen) == 1  # min clamped to the value: only 8 itself
    # three options: the first two are drawn, never the third
    drawn = {random_divisor(16, 2, 3, gen) for _ in range(50)}
    assert drawn == {8, 4}


def test_tiles_are_grid_blocks_and_untile_inverts_them() -> None:
    tokens = torch.arange(16.0).reshape(1, 16, 1)  # a 4x4 grid, row-major
    tiled = tile(tokens, 2, 2, 4, 4)
    expected = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    assert tiled.squeeze(-1).tolist() == expected
    assert torch.equal(untile(tiled, 2, 2, 4, 4), tokens)


def test_hypertile_tiles_queries_and_attends_each_to_a_key_chunk() -> None:
    x = torch.arange(128.0).reshape(1, 64, 2)  # an 8x8 latent's tokens
    top = info(hw=(8, 8), original=(1, 4, 8, 8))
    patch = HyperTile(tile_size=32, swap_size=1)  # 32 px = 4 latent cells: 2x2 tiles of 4x4
    split = patch.split_tokens(x, x, x, top)
    assert split is not None
    q, k, v, restore = split
    assert q.shape == (4, 16, 2) and torch.equal(q, tile(x, 2, 2, 8, 8))
    # keys stay untiled: tile i attends to tokens 16i .. 16i + 15 (ComfyUI's view of them)
    assert torch.equal(k, x.reshape(4, 16, 2)) and torch.equal(v, k)
    assert torch.equal(restore(q), x)
    assert patch.split_tokens(x, x, x, info(kind="cross", hw=(8, 8),
                                            original=(1, 4, 8, 8))) is None
    # one level below the top of a 16x16 latent: tiled only with max_depth >= 1
    deeper = info(hw=(8, 8), original=(1, 4, 16, 16))
    assert patch.split_tokens(x, x, x, deeper) is None
    assert HyperTile(32, 1, max_depth=1).split_tokens(x, x, x, deeper) is not None
    # with scale_depth the tile doubles there: 8 cells, no tiling left
    assert HyperTile(32, 1, max_depth=1, scale_depth=True).split_tokens(x, x, x, deeper) is None


def test_tome_merges_identical_cells_and_unmerges_exactly() -> None:
    # a 4x4 grid whose 2x2 cells hold one orthogonal vector each: every source's best match
    # is its own cell's destination, so merging 12 of 16 leaves the 4 cell vectors
    cell = torch.eye(4)
    grid = torch.stack([cell[(y // 2) * 2 + x // 2] for y in range(4) for x in range(4)])
    x = grid[None]  # (1, 16, 4)
    matching = bipartite_matching(x, 4, 4, 12, torch.Generator().manual_seed(0))
    assert matching is not None
    merged = matching.merge(x)
    assert merged.shape == (1, 4, 4)
    assert sorted(merged[0].argmax(dim=-1).tolist()) == [0, 1, 2, 3]
    assert torch.equal(matching.unmerge(merged), x)


def test_tome_merge_is_the_mean_of_a_destination_and_its_sources() -> None:
    x = torch.tensor([[[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]]])  # (1, 4, 2): 2x2 grid
    matching = bipartite_matching(x, 2, 2, 1, torch.Generator().manual_seed(1))
    assert matching is not None
    merged = matching.merge(x)  # one destination, 3 sources; the most similar one merged
    assert merged.shape == (1, 3, 2)
    dst = int(matching.dst_all[0, 0, 0])
    src = int(matching.src_all[0, int(matching.merged[0, 0, 0]), 0])
    assert torch.allclose(merged[0, -1], (x[0, dst] + x[0, src]) / 2)
    back = matching.unmerge(merged)
    assert torch.allclose(back[0, src], back[0, dst])  # the source takes its destination's row


def test_tome_applies_at_full_resolution_self_attention_only() -> None:
    x = torch.randn(1, 16, 8, generator=torch.Generator().manual_seed(0))
    patch = TokenMerging(0.5)
    split = patch.split_tokens(x, x, x, info())
    assert split is not None
    q, k, v, restore = split
    assert q.shape == (1, 8, 8) and k is x and v is x
    assert restore(q).shape == (1, 16, 8)
    low = torch.zeros(1, 4, 8)
    assert patch.split_tokens(low, low, low, info(hw=(2, 2))) is None
    assert patch.split_tokens(x, x, x, info(kind="cross")) is None
    assert TokenMerging(0.0).split_tokens(x, x, x, info()) is None  # r = 0


def test_attention_with_scores_is_attention_and_returns_its_softmax() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 5, 8, generator=gen) for _ in range(3))
    out, scores = attention_with_scores(q, k, v, heads=2)
    assert torch.allclose(out, multihead_attention(q, k, v, 2), atol=1e-5)
    assert scores.shape == (4, 5, 5)
    assert torch.allclose(scores.sum(-1), torch.ones(4, 5), atol=1e-6)
    # row 1 = sample 0, head 1: softmax(q_h k_h^T / sqrt(d)) by hand
    qh, kh = q[0, :, 4:], k[0, :, 4:]
    assert torch.allclose(scores[1], (qh @ kh.T / 2.0).softmax(-1), atol=1e-6)


def test_gaussian_blur_by_hand() -> None:
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 4, 4] = 1.0
    out = gaussian_blur(img, 9, sigma=2.0)
    pdf = [math.exp(-0.5 * (i / 2.0) ** 2) for i in range(-4, 5)]
    kernel = [p / sum(pdf) for p in pdf]
    assert math.isclose(float(out[0, 0, 4, 4]), kernel[4] ** 2, rel_tol=1e-5)
    assert math.isclose(float(out[0, 0, 4, 6]), kernel[4] * kernel[6], rel_tol=1e-5)
    flat = torch.full((1, 2, 6, 6), 3.0)
    assert torch.allclose(gaussian_blur(flat, 9, 2.0), flat)
    assert gaussian_blur(img, 9, 0.0) is img  # sigma 0: no blur


def test_blur_map_blurs_where_attention_concentrates() -> None:
    x0 = torch.zeros(1, 1, 6, 6)
    x0[0, 0, 0, 0] = 9.0
    heads, tokens = 2, 36
    uniform = torch.full((heads, tokens, tokens), 0.99 / tokens)  # each key gets < 1
    assert torch.equal(blur_map(x0, uniform, 2.0), x0)
    focused = torch.zeros(heads, tokens, tokens)
    focused[:, :, 0] = 1.0  # every query looks at token 0 (pixel (0, 0))
    out = blur_map(x0, focused, 2.0)
    assert float(out[0, 0, 0, 0]) < 9.0  # blurred there ...
    assert torch.equal(out[0, 0, 1:], x0[0, 0, 1:])  # ... nowhere else
    assert mask_grid(36, 6, 6) == (6, 6) and mask_grid(8, 2, 4) == (2, 4)


def test_perturbed_self_attention_is_the_identity_in_the_middle_block() -> None:
    q, k, v = torch.ones(1, 4, 2), torch.zeros(1, 4, 2), torch.full((1, 4, 2), 7.0)

    def attend(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
        return a * 0 - 1

    patch = PerturbedSelfAttention()
    assert patch(q, k, v, info(block=("middle", 0)), attend) is v
    assert float(patch(q, k, v, info(block=("input", 1)), attend)[0, 0, 0]) == -1.0
    assert float(patch(q, k, v, info(kind="cross", block=("middle", 0)), attend)[0, 0, 0]) == -1
