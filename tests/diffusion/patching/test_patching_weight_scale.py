"""``WeightScale``: a factor on a weight, or one per row block of a fused weight; applied in
patch-set order to the weight as patched so far, with a content identity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from diffusion.patching import PatchSet, WeightDiff, WeightScale, patched_weights


def test_one_factor_scales_the_whole_weight() -> None:
    weight = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(WeightScale("w", (2.5,)).apply(weight), weight * 2.5)
    bias = torch.arange(3.0)
    assert torch.equal(WeightScale("b", (2.0,)).apply(bias), bias * 2)


def test_several_factors_scale_equal_row_blocks() -> None:
    fused = torch.ones(6, 2)  # q, k, v rows of a fused in_proj
    out = WeightScale("in_proj_weight", (1.0, 2.0, 3.0)).apply(fused)
    assert out[:, 0].tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="equal blocks"):
        WeightScale("w", (1.0, 2.0, 3.0)).apply(torch.ones(4, 2))
    with pytest.raises(ValueError, match="finite"):
        WeightScale("w", (float("nan"),))


def test_scale_applies_to_the_weight_patched_so_far() -> None:
    diff = WeightDiff("w", torch.ones(2, 2))
    scale = WeightScale("w", (3.0,))
    module = nn.Module()
    module.w = nn.Parameter(torch.zeros(2, 2))
    before = patched_weights(module, PatchSet((scale, diff)))["w"]
    after = patched_weights(module, PatchSet((diff, scale)))["w"]
    assert torch.equal(before, torch.ones(2, 2)) and torch.equal(after, torch.full((2, 2), 3.0))
    assert PatchSet((scale,)).digest == PatchSet((WeightScale("w", (3,)),)).digest
    assert PatchSet((scale,)).digest != PatchSet((WeightScale("w", (2.0,)),)).digest
