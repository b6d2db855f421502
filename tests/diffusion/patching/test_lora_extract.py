"""LoRA extraction maths (ComfyUI's LoraSave): truncated SVD per weight, conv weights
flattened, the rank capped per weight, the 0.99-quantile clamp, and the key plan."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from diffusion.patching import extract
from diffusion.patching.extract import (
    extract_lora,
    factor_shapes,
    lora_entries,
    lora_tensors,
    plan_lora,
)

SHAPES = [(24, 16), (24, 16, 1, 1), (16, 24, 3, 3), (12, 40)]
# (24, 16, 3, 3) is not here: ComfyUI caps the rank at dim 1 (16) although the flattened
# (24, 144) difference may have rank 24, so "full rank" is not exact for such convs.


def _low_rank(shape: tuple[int, ...], rank: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    up = torch.randn(shape[0], rank, generator=gen)
    down = torch.randn(rank, *shape[1:], generator=gen).reshape(rank, -1)
    return (0.02 * up @ down).reshape(shape)  # (out, in[, kh, kw]), like a LoRA's delta


def product(up: Tensor, down: Tensor) -> Tensor:
    """The weight a LoRA loader rebuilds: up (out, r[, 1, 1]) @ down (r, in[, kh, kw])."""
    shape = (up.shape[0], *down.shape[1:])
    return (up.reshape(up.shape[0], -1).float() @ down.reshape(down.shape[0], -1).float()
            ).reshape(shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_full_rank_without_the_clamp_reproduces_the_difference(shape: tuple[int, ...]) -> None:
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(11))
    diff = _low_rank(shape, 5, seed=len(shape)) + 1e-3 * noise  # full rank
    up, down = extract_lora(diff, 4096, clamp_quantile=None)
    assert (up.shape, down.shape) == factor_shapes(shape, 4096)
    assert (product(up, down) - diff).abs().max() < 1e-4
    half = product(up.half(), down.half())  # as saved: fp16 rounding of the factors
    assert (half - diff).abs().max() < 2e-3 * diff.abs().max()


@pytest.mark.parametrize("shape", SHAPES)
def test_a_low_rank_difference_is_exact_at_its_rank(shape: tuple[int, ...]) -> None:
    diff = _low_rank(shape, 3, seed=7)
    up, down = extract_lora(diff, 3, clamp_quantile=None)
    assert up.shape[1] == 3 and (product(up, down) - diff).abs().max() < 1e-5


def test_rank_is_capped_by_the_weights_dims_as_comfyui_counts_them() -> None:
    assert factor_shapes((24, 16), 8) == ((24, 8), (8, 16))
    assert factor_shapes((24, 16, 3, 3), 100) == ((24, 16, 1, 1), (16, 16, 3, 3))  # in = 16
    assert factor_shapes((12, 40), 4096) == ((12, 12), (12, 40))
    with pytest.raises(ValueError, match=r"2-D or 4-D weights; got shape \(2, 3, 4\)"):
        factor_shapes((2, 3, 4), 1)
    with pytest.raises(ValueError, match="rank=0"):
        factor_shapes((2, 3), 0)


def test_the_factors_are_clamped_at_the_quantile_of_both() -> None:
    diff = _low_rank((24, 16), 16, seed=3)
    raw_up, raw_down = extract_lora(diff, 16, clamp_quantile=None)
    up, down = extract_lora(diff, 16)
    high = torch.quantile(torch.cat([raw_up.flatten(), raw_down.flatten()]), 0.99)
    assert up.abs().max() <= high and down.abs().max() <= high
    assert torch.equal(up, raw_up.clamp(-high, high))
    assert torch.equal(down, raw_down.clamp(-high, high))


def test_the_large_input_quantile_matches_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    values = torch.randn(1001, generator=torch.Generator().manual_seed(2))
    expected = torch.quantile(values, 0.99)
    monkeypatch.setattr(extract, "_QUANTILE_LIMIT", 10)
    assert torch.allclose(extract._quantile(values, 0.99), expected, rtol=0, atol=1e-6)


SHAPE_PLAN = {"conv.weight": (4, 3, 3, 3), "conv.bias": (4,), "norm.weight": (4,),
              "norm.bias": (4,), "proj.weight": (5, 4), "pos": (7, 4)}


def test_the_plan_follows_comfyui_key_rules() -> None:
    def keys(lora_type: str, bias_diff: bool) -> list[str]:
        items = plan_lora(SHAPE_PLAN, "diffusion_model.", lora_type, bias_diff)  # type: ignore[arg-type]
        return [e.key for e in lora_entries(items, 2, torch.float16)]

    m = "diffusion_model."
    assert keys("standard", False) == [f"{m}conv.lora_up.weight", f"{m}conv.lora_down.weight",
                                       f"{m}proj.lora_up.weight", f"{m}proj.lora_down.weight"]
    assert keys("standard", True) == [
        f"{m}conv.lora_up.weight", f"{m}conv.lora_down.weight", f"{m}conv.diff_b",
        f"{m}norm.diff", f"{m}norm.diff_b", f"{m}proj.lora_up.weight",
        f"{m}proj.lora_down.weight"]
    assert keys("full_diff", False) == [f"{m}conv.diff", f"{m}norm.diff", f"{m}proj.diff"]
    with pytest.raises(ValueError, match="lora_type 'half'"):
        plan_lora(SHAPE_PLAN, m, "half", True)  # type: ignore[arg-type]


def test_tensors_match_their_entries() -> None:
    gen = torch.Generator().manual_seed(0)
    weights = {k: torch.randn(s, generator=gen) for k, s in SHAPE_PLAN.items()}
    items = plan_lora(SHAPE_PLAN, "", "standard", True)
    entries = lora_entries(items, 2, torch.float16)
    produced = list(lora_tensors(items, weights, 2, torch.float16))
    assert [(e.key, e.shape, e.dtype) for e in entries] == [
        (k, tuple(t.shape), t.dtype) for k, t in produced]
    assert torch.equal(dict(produced)["norm.diff"], weights["norm.weight"].half())
