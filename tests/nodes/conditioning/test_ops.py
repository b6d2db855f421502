"""Conditioning list operations against hand-written expectations (ComfyUI's semantics)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from diffusion.guidance.cond import Area, AreaPercentage, Cond
from nodes.conditioning.ops import (
    ConditioningAverage,
    ConditioningCombine,
    ConditioningConcat,
    ConditioningSetArea,
    ConditioningSetAreaPercentage,
    ConditioningSetMask,
    ConditioningSetTimestepRange,
    ConditioningZeroOut,
)
from tests.nodes.models.support import Ctx, ModelEnv, TinyStore, encode, loader


def cond(value: float, tokens: int = 2, pooled: float | None = None, **fields: Any) -> Cond:
    pooled_t = None if pooled is None else torch.full((1, 3), pooled)
    return Cond(torch.full((1, tokens, 4), value), pooled_output=pooled_t, **fields)


def run(node: type, *args: Any) -> Any:
    (out,) = node().run(Ctx(), *args)
    assert isinstance(out, tuple) and all(isinstance(c, Cond) for c in out)
    return out


def test_combine_concatenates_the_lists_in_order() -> None:
    a, b, c = cond(1), cond(2), cond(3)
    assert run(ConditioningCombine, (a,), (b, c)) == (a, b, c)


def test_average_blends_tokens_and_pooled_with_padding() -> None:
    to = (cond(1.0, tokens=3, pooled=10.0), cond(3.0, tokens=1))
    source = (cond(5.0, tokens=2, pooled=20.0), cond(100.0))
    out = run(ConditioningAverage, to, source, 0.25)
    # first: tokens 0-1 blend 0.25*1 + 0.75*5; token 2 has no source token: 0.25*1 + 0
    assert torch.allclose(out[0].cross_attn[0, :, 0], torch.tensor([4.0, 4.0, 0.25]))
    assert torch.allclose(out[0].pooled_output, torch.full((1, 3), 0.25 * 10 + 0.75 * 20))
    # second: source cut to 1 token; no pooled of its own -> the source's pooled
    assert torch.allclose(out[1].cross_attn, torch.full((1, 1, 4), 0.25 * 3 + 0.75 * 5))
    assert torch.equal(out[1].pooled_output, torch.full((1, 3), 20.0))


def test_average_keeps_pooled_when_the_source_has_none() -> None:
    out = run(ConditioningAverage, (cond(1.0, pooled=7.0),), (cond(3.0),), 1.0)
    assert torch.equal(out[0].cross_attn, torch.full((1, 2, 4), 1.0))
    assert torch.equal(out[0].pooled_output, torch.full((1, 3), 7.0))


def test_concat_appends_the_first_source_entry() -> None:
    to = (cond(1.0, tokens=2, strength=0.5), cond(2.0, tokens=1))
    out = run(ConditioningConcat, to, (cond(9.0, tokens=3), cond(100.0)))
    assert out[0].cross_attn[0, :, 0].tolist() == [1.0, 1.0, 9.0, 9.0, 9.0]
    assert out[1].cross_attn[0, :, 0].tolist() == [2.0, 9.0, 9.0, 9.0]
    assert out[0].strength == 0.5  # other fields kept


@pytest.mark.parametrize("node", [ConditioningAverage, ConditioningConcat])
def test_an_empty_source_is_refused_by_name(node: type) -> None:
    args = (0.5,) if node is ConditioningAverage else ()
    with pytest.raises(ValueError, match="input 'conditioning_from' is empty"):
        node().run(Ctx(), (cond(1.0),), (), *args)


def test_set_area_stores_latent_units_and_strength() -> None:
    source = cond(1.0, set_area_to_bounds=True)
    (out,) = run(ConditioningSetArea, (source,), 200, 136, 72, 20, 2.5)
    assert out.area == Area(height=17, width=25, y=2, x=9)
    assert (out.strength, out.set_area_to_bounds) == (2.5, False)
    assert out.cross_attn is source.cross_attn


def test_set_area_percentage_stores_fractions() -> None:
    (out,) = run(ConditioningSetAreaPercentage, (cond(1.0),), 0.5, 0.25, 0.1, 0.2, 0.8)
    assert out.area == AreaPercentage(height=0.25, width=0.5, y=0.2, x=0.1)
    assert out.strength == 0.8
    assert out.area.resolve(64, 64) == Area(16, 32, 13, 6)


def test_set_mask_adds_a_batch_axis_and_bounds_flag() -> None:
    mask = torch.zeros((8, 8))
    mask[2:4, 3:6] = 1.0
    (out,) = run(ConditioningSetMask, (cond(1.0, strength=0.3),), mask, 1.7, "mask bounds")
    assert out.mask.shape == (1, 8, 8) and torch.equal(out.mask[0], mask)
    assert (out.mask_strength, out.set_area_to_bounds, out.strength) == (1.7, True, 0.3)
    (plain,) = run(ConditioningSetMask, (cond(1.0),), mask[None], 1.0, "default")
    assert plain.set_area_to_bounds is False and plain.mask.shape == (1, 8, 8)


def test_zero_out_zeroes_tokens_and_pooled_only() -> None:
    source = (cond(3.0, pooled=2.0, strength=0.7), cond(4.0))
    out = run(ConditioningZeroOut, source)
    assert torch.equal(out[0].cross_attn, torch.zeros((1, 2, 4)))
    assert torch.equal(out[0].pooled_output, torch.zeros((1, 3)))
    assert out[0].strength == 0.7 and out[1].pooled_output is None


def test_timestep_range_sets_start_and_end() -> None:
    (out,) = run(ConditioningSetTimestepRange, (cond(1.0),), 0.2, 0.8)
    assert (out.start_percent, out.end_percent) == (0.2, 0.8)


def test_ops_chain_through_the_engine(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    prompt = {
        "1": loader("m.safetensors"),
        "2": encode("a cat", ["1", 1]),
        "3": encode("a dog", ["1", 1]),
        "4": {"class_type": "ConditioningSetArea", "inputs": {
            "conditioning": ["3", 0], "width": 64, "height": 128, "x": 8, "y": 0,
            "strength": 1.2}},
        "5": {"class_type": "ConditioningCombine",
              "inputs": {"conditioning_1": ["2", 0], "conditioning_2": ["4", 0]}},
        "6": {"class_type": "ConditioningSetTimestepRange",
              "inputs": {"conditioning": ["5", 0], "start": 0.0, "end": 0.5}},
    }
    out = env.probe(prompt, "6")
    assert len(out) == 2 and out[0].area is None and out[1].area == Area(16, 8, 0, 1)
    assert all(c.end_percent == 0.5 for c in out) and out[1].strength == 1.2
