"""The hook family's payload maths, node by node (called directly): keyframes one by one,
interpolated as ComfyUI's linear / ease curves and from floats; SetHookKeyframes and
CombineHooks keeping each hook once; the conditioning property nodes and their pair versions;
the timesteps ranges; the CLIP keyframe schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from diffusion.guidance.cond import Cond
from diffusion.guidance.hooked import (
    HookGroup,
    HookKeyframe,
    HookKeyframes,
    TimestepsRange,
    WeightHook,
)
from nodes.hooks.clip_schedule import ClipRange, clip_schedule
from nodes.hooks.combine import CombineHooks2, CombineHooks8
from nodes.hooks.conds import (
    ConditioningSetDefaultCombine,
    ConditioningSetProperties,
    ConditioningSetPropertiesAndCombine,
    ConditioningTimestepsRange,
)
from nodes.hooks.keyframes import (
    CreateHookKeyframe,
    CreateHookKeyframesFromFloats,
    CreateHookKeyframesInterpolated,
    SetHookKeyframes,
)
from nodes.hooks.pairs import (
    PairConditioningCombine,
    PairConditioningSetDefaultCombine,
    PairConditioningSetProperties,
    PairConditioningSetPropertiesAndCombine,
)
from tests.nodes.images.helpers import FakeContext

CTX = FakeContext()


@dataclass(frozen=True, eq=False)
class FakeSource:
    label: str = "fake"
    nbytes: int = 0


def group(*strengths: float) -> HookGroup:
    return HookGroup(tuple(WeightHook(FakeSource(), s, s) for s in strengths))


def frames(keyframes: HookKeyframes) -> list[tuple[float, float, int]]:
    return [(k.strength, k.start_percent, k.guarantee_steps) for k in keyframes.keyframes]


def entry(value: float, **fields: Any) -> Cond:
    return Cond(torch.full((1, 2, 4), value), **fields)


def test_keyframes_are_sorted_by_start_and_guarantee_one_step() -> None:
    (late,) = CreateHookKeyframe().run(CTX, 0.5, 0.6)
    (both,) = CreateHookKeyframe().run(CTX, 2.0, 0.2, prev_hook_kf=late)
    (tie,) = CreateHookKeyframe().run(CTX, 3.0, 0.2, prev_hook_kf=both)
    assert frames(late) == [(0.5, 0.6, 1)]
    assert frames(tie) == [(2.0, 0.2, 1), (3.0, 0.2, 1), (0.5, 0.6, 1)]  # ties keep order


@pytest.mark.parametrize(("method", "curve"), [
    ("linear", lambda t: t),
    ("ease_in", lambda t: t * t),
    ("ease_out", lambda t: 1 - (1 - t) ** 2),
    ("ease_in_out", lambda t: (1 - math.cos(math.pi * t)) / 2),
])
def test_interpolated_keyframes_follow_comfyui_curves(method: str, curve: Any) -> None:
    node = CreateHookKeyframesInterpolated()
    (kf,) = node.run(CTX, 1.0, 3.0, method, 0.2, 0.6, 5)
    got = frames(kf)
    expected_strengths = [1.0 + 2.0 * curve(i / 4) for i in range(5)]
    assert [s for s, _, _ in got] == pytest.approx(expected_strengths, abs=1e-6)
    assert [p for _, p, _ in got] == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6], abs=1e-7)
    assert [g for _, _, g in got] == [1, 0, 0, 0, 0]


def test_interpolated_keyframes_extend_previous_and_can_be_reported() -> None:
    ctx = FakeContext()
    (prev,) = CreateHookKeyframe().run(ctx, 9.0, 0.5)
    (kf,) = CreateHookKeyframesInterpolated().run(ctx, 0.0, 1.0, "linear", 0.0, 1.0, 2,
                                                  print_keyframes=True, prev_hook_kf=prev)
    assert frames(kf) == [(0.0, 0.0, 1), (9.0, 0.5, 1), (1.0, 1.0, 0)]
    assert ctx.notes["keyframes"] == [[0.0, 0.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match="'interpolation'"):
        CreateHookKeyframesInterpolated().run(ctx, 0.0, 1.0, "cubic", 0.0, 1.0, 2)


def test_keyframes_from_floats_spread_evenly() -> None:
    node = CreateHookKeyframesFromFloats()
    (kf,) = node.run(CTX, (0.2, 0.4, 0.8), 0.1, 0.5)
    assert [(s, round(p, 6), g) for s, p, g in frames(kf)] == [
        (0.2, 0.1, 1), (0.4, 0.3, 0), (0.8, 0.5, 0)]
    (one,) = node.run(CTX, 0.7, 0.3, 0.9)
    assert frames(one) == [(0.7, pytest.approx(0.3), 1)]
    (from_tensor,) = node.run(CTX, torch.tensor([1.0, 2.0]), 0.0, 1.0)
    assert [s for s, _, _ in frames(from_tensor)] == [1.0, 2.0]
    with pytest.raises(TypeError, match="floats_strength"):
        node.run(CTX, "0.5", 0.0, 1.0)


def test_set_keyframes_keeps_identity_so_combining_drops_the_copy() -> None:
    hooks = group(1.0, 0.5)
    (kf,) = CreateHookKeyframe().run(CTX, 0.0, 0.5)
    (scheduled,) = SetHookKeyframes().run(CTX, hooks, kf)
    assert [h.keyframes for h in scheduled.hooks] == [kf, kf]
    assert [h.ref for h in scheduled.hooks] == [h.ref for h in hooks.hooks]
    assert SetHookKeyframes().run(CTX, hooks)[0] is hooks
    (combined,) = CombineHooks2().run(CTX, hooks_A=hooks, hooks_B=scheduled)
    assert combined == hooks


def test_combine_hooks_dedups_in_first_seen_order() -> None:
    a, b = group(1.0), group(0.5, 0.25)
    both = a.plus(b)
    (combined,) = CombineHooks8().run(CTX, hooks_A=a, hooks_C=both, hooks_H=b)
    assert combined.hooks == a.hooks + b.hooks
    assert CombineHooks2().run(CTX, hooks_B=b)[0] is b
    assert CombineHooks2().run(CTX) == (None,)


def test_set_properties_sets_mask_hooks_and_range_on_every_entry() -> None:
    hooks, more = group(1.0), group(0.5)
    entries = (entry(1.0), entry(2.0, hooks=hooks))
    mask = torch.ones(8, 8)
    (out,) = ConditioningSetProperties().run(CTX, entries, 0.4, "mask bounds", mask=mask,
                                             hooks=more, timesteps=TimestepsRange(0.2, 0.7))
    assert [e.hooks for e in out] == [more, hooks.plus(more)]
    for e in out:
        assert e.mask is not None and e.mask.shape == (1, 8, 8)
        assert (e.mask_strength, e.set_area_to_bounds) == (0.4, True)
        assert (e.start_percent, e.end_percent) == (0.2, 0.7)
        assert e.strength == 1.0
    assert entries[0].hooks is None and entries[0].mask is None  # inputs untouched


def test_set_properties_without_mask_ignores_strength_and_area_mode() -> None:
    entries = (entry(1.0),)
    (out,) = ConditioningSetProperties().run(CTX, entries, 3.0, "mask bounds")
    assert out == entries
    with pytest.raises(ValueError, match="'set_cond_area'"):
        ConditioningSetProperties().run(CTX, entries, 1.0, "everywhere")


def test_and_combine_appends_changed_new_entries() -> None:
    old, new = (entry(1.0),), (entry(2.0),)
    hooks = group(1.0)
    (out,) = ConditioningSetPropertiesAndCombine().run(CTX, old, new, 1.0, "default",
                                                       hooks=hooks)
    assert out[0] is old[0] and out[1].hooks is hooks and len(out) == 2


def test_default_combine_marks_new_entries_as_defaults() -> None:
    old, new = (entry(1.0),), (entry(2.0),)
    hooks = group(1.0)
    (out,) = ConditioningSetDefaultCombine().run(CTX, old, new, hooks=hooks)
    assert [e.default for e in out] == [False, True]
    assert out[1].hooks is hooks and out[0] is old[0]


def test_pair_nodes_do_both_sides() -> None:
    pos, neg = (entry(1.0),), (entry(-1.0),)
    hooks, mask = group(1.0), torch.ones(1, 4, 4)
    p, n = PairConditioningSetProperties().run(CTX, pos, neg, 0.5, "default", mask=mask,
                                               hooks=hooks)
    assert all(e.hooks is hooks and e.mask_strength == 0.5 for e in (*p, *n))
    p2, n2 = PairConditioningSetPropertiesAndCombine().run(
        CTX, pos, neg, pos, neg, 1.0, "default", timesteps=TimestepsRange(0.0, 0.3))
    assert [e.end_percent for e in p2] == [1.0, 0.3] and [e.end_percent for e in n2] == [1.0, 0.3]
    p3, n3 = PairConditioningCombine().run(CTX, pos, neg, p, n)
    assert p3 == pos + p and n3 == neg + n
    p4, n4 = PairConditioningSetDefaultCombine().run(CTX, pos, neg, pos, neg, hooks=hooks)
    assert [e.default for e in p4] == [False, True] and n4[1].hooks is hooks


def test_timesteps_range_and_its_complements() -> None:
    inside, before, after = ConditioningTimestepsRange().run(CTX, 0.25, 0.75)
    assert (inside, before, after) == (TimestepsRange(0.25, 0.75), TimestepsRange(0.0, 0.25),
                                       TimestepsRange(0.75, 1.0))


def test_clip_schedule_cuts_ranges_at_every_keyframe_change() -> None:
    scheduled = HookGroup((
        WeightHook(FakeSource(), keyframes=HookKeyframes((
            HookKeyframe(1.0, 0.0), HookKeyframe(1.0, 0.2), HookKeyframe(0.5, 0.5)))),
        WeightHook(FakeSource(), keyframes=HookKeyframes((HookKeyframe(2.0, 0.7),))),
        WeightHook(FakeSource()),
    ))
    assert clip_schedule(scheduled) == [
        ClipRange(0.0, 0.5, (1.0, 1.0, 1.0)),  # the second hook has no range here: strength 1
        ClipRange(0.5, 0.7, (0.5, 1.0, 1.0)),
        ClipRange(0.7, 1.0, (0.5, 2.0, 1.0)),
    ]
    assert clip_schedule(HookGroup()) == []
