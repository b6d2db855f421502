"""Weight hooks in guidance: the keyframe clock steps as ComfyUI's, hooked entries are evaluated
with the provider's network only (and at the step's keyframe strength), groups never share a
forward, default entries fill the weight the others leave, and a scheduled-CLIP range narrows
an entry's steps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from _guidance_testlib import ToyUNet, text, toy_model
from torch import Tensor

from diffusion.guidance import guided_denoiser
from diffusion.guidance.hook_schedule import ActiveHooks, KeyframeClock
from diffusion.guidance.hooked import (
    HookGroup,
    HookKeyframe,
    HookKeyframes,
    WeightHook,
    combine_hook_groups,
)
from diffusion.sampling import ModelSamplingDiscrete, ksampler_sigmas
from tests.diffusion.ksampler_recipe import ksample

MS = ModelSamplingDiscrete()
SHAPE = (1, 4, 4, 4)


@dataclass(frozen=True, eq=False)
class FakeSource:
    label: str = "fake"
    nbytes: int = 0


def hook(strength: float = 1.0, *frames: HookKeyframe) -> HookGroup:
    return HookGroup((WeightHook(FakeSource(), strength, 0.0, HookKeyframes(frames)),))


@dataclass
class HookedToy:
    """Provider: a toy network whose scale grows with the hooks' summed model strength;
    records (strength, rows, first context values) per forward."""

    calls: list[tuple[float, int, list[float]]] = field(default_factory=list)

    def __call__(self, active: ActiveHooks) -> Any:
        strength = sum(s for _, s in active.model_strengths())

        def forward(x_in: Tensor, timesteps: Tensor, context: Tensor, **kwargs: Any) -> Tensor:
            values = [float(v) for v in context[:, 0, 0]]
            self.calls.append((strength, x_in.shape[0], values))
            return x_in[:, :4] * (0.5 + strength) + context[:, 0, 0].reshape(-1, 1, 1, 1)

        return forward


def fake_sigmas(percent: float) -> float:
    return {0.0: 1e9, 0.1: 10.0, 0.2: 5.0}[percent]


def strengths(group: HookGroup, sigmas: list[float]) -> list[float]:
    clock = KeyframeClock(fake_sigmas)
    return [clock.active(group, s).hooks[0][1] for s in sigmas]


def test_keyframe_clock_holds_guaranteed_steps_then_jumps() -> None:
    group = hook(1.0, HookKeyframe(1.0, 0.0), HookKeyframe(2.0, 0.1, 3), HookKeyframe(3.0, 0.2))
    assert strengths(group, [20.0, 4.0, 3.0, 3.0, 2.0, 1.0]) == [1, 2, 2, 2, 2, 3]
    # a run starting below both keyframes: they started "before the run" and guarantee nothing
    assert strengths(group, [4.0, 3.0]) == [3, 3]
    assert strengths(hook(), [20.0, 1.0]) == [1.0, 1.0]  # no keyframes: strength 1


def test_a_keyframe_switches_at_the_step_a_timestep_range_would() -> None:
    group = hook(1.0, HookKeyframe(1.0, 0.0), HookKeyframe(0.0, 0.5))
    sigmas = ksampler_sigmas(MS, "euler", "normal", 10)[:-1]
    clock = KeyframeClock(MS.percent_to_sigma)
    got = [clock.active(group, float(s)).hooks[0][1] for s in sigmas]
    switch = int((sigmas >= MS.percent_to_sigma(0.5)).sum())
    assert got == [1.0] * (10 - switch) + [0.0] * switch and 0 < switch < 10


def test_combining_keeps_each_hook_once_by_identity() -> None:
    a, b = hook(1.0), hook(0.5)
    rekeyed = a.with_keyframes(HookKeyframes((HookKeyframe(0.3),)))
    combined = combine_hook_groups([a, None, b, rekeyed])
    assert combined is not None and combined.hooks == (a.hooks[0], b.hooks[0])
    assert combine_hook_groups([None, b]) is b and combine_hook_groups([None]) is None


def _denoise(positive: tuple[Any, ...], negative: tuple[Any, ...], cfg: float = 2.0,
             plain: ToyUNet | None = None, hooked: HookedToy | None = None) -> Tensor:
    x = torch.linspace(-1, 1, 64).reshape(SHAPE)
    denoise = guided_denoiser(plain or ToyUNet(), MS, positive, negative, cfg,
                              latent_shape=SHAPE, unet_for=hooked or HookedToy())
    return denoise(x, torch.full((1,), 3.0))


def test_only_hooked_entries_see_the_hooked_network() -> None:
    plain, hooked = ToyUNet(), HookedToy()
    group = hook(0.75)
    _denoise((text(1.0, hooks=group), text(2.0)), (text(0.0),), plain=plain, hooked=hooked)
    assert hooked.calls == [(0.75, 1, [1.0])]
    assert sorted(float(v) for c in plain.calls for v in c.context[:, 0, 0]) == [0.0, 2.0]


def test_groups_never_share_a_forward_but_one_group_batches() -> None:
    hooked = HookedToy()
    a, b = hook(0.5), hook(0.25)
    _denoise((text(1.0, hooks=a), text(2.0, hooks=b)), (text(3.0, hooks=a),), hooked=hooked)
    assert sorted((s, rows) for s, rows, _ in hooked.calls) == [(0.25, 1), (0.5, 2)]


def test_empty_group_is_the_plain_model_and_hooks_need_a_provider() -> None:
    plain = ToyUNet()
    base = _denoise((text(1.0),), (text(0.0),), plain=plain)
    same = _denoise((text(1.0, hooks=HookGroup()),), (text(0.0),))
    assert torch.equal(base, same)
    with pytest.raises(ValueError, match="weight hooks"):
        guided_denoiser(ToyUNet(), MS, (text(1.0, hooks=hook()),), (), 1.0,
                        latent_shape=SHAPE)(torch.zeros(SHAPE), torch.full((1,), 3.0))


def test_hooked_entry_follows_its_keyframes_through_a_run() -> None:
    hooked = HookedToy()
    group = hook(0.5, HookKeyframe(1.0, 0.0), HookKeyframe(0.0, 0.5))
    model = dataclasses.replace(toy_model(), unet_for=hooked)
    ksample(model, torch.zeros(SHAPE), (text(1.0, hooks=group),), (text(0.0),), seed=0,
            cfg=2.0, sampler_name="euler", scheduler="normal", steps=10)
    sigmas = ksampler_sigmas(MS, "euler", "normal", 10)[:-1]
    late = int((sigmas <= MS.percent_to_sigma(0.5)).sum())
    assert [s for s, _, _ in hooked.calls] == [0.5] * (10 - late) + [0.0] * late


def test_default_entry_fills_what_a_masked_hooked_entry_leaves() -> None:
    mask = torch.zeros(4, 4)
    mask[:, :2] = 0.6
    masked = text(1.0, hooks=hook(0.0), mask=mask)
    default = text(2.0, default=True, strength=5.0)  # its own strength is not used
    got = _denoise((masked, default), (text(0.0),), cfg=1.0)
    x = torch.linspace(-1, 1, 64).reshape(SHAPE)
    c_in = 1.0 / (3.0**2 + 1.0) ** 0.5
    pred_masked = x - 3.0 * (x * c_in * 0.5 + 1.0)  # eps -> x0 at sigma 3
    pred_default = x - 3.0 * (x * c_in * 0.5 + 2.0)
    weight = mask.expand(SHAPE)
    expected = (pred_masked * weight + pred_default * (1 - weight)) / (1e-37 + 1.0)
    assert torch.allclose(got, expected, atol=1e-5)


def test_default_entry_is_skipped_when_covered_and_used_alone_otherwise() -> None:
    plain = ToyUNet()
    _denoise((text(1.0), text(2.0, default=True)), (text(0.0),), plain=plain)
    assert sorted(float(v) for c in plain.calls for v in c.context[:, 0, 0]) == [0.0, 1.0]
    alone = _denoise((text(1.0, start_percent=0.9), text(2.0, default=True)), (text(0.0),))
    assert torch.allclose(alone, _denoise((text(2.0),), (text(0.0),)))


def test_scheduled_clip_range_narrows_the_entry() -> None:
    unet = ToyUNet()
    early = text(1.0, clip_start_percent=0.0, clip_end_percent=0.5)
    late = text(2.0, clip_start_percent=0.5, clip_end_percent=1.0, end_percent=0.8)
    ksample(toy_model(unet), torch.zeros(SHAPE), (early, late), (text(0.0),), seed=0, cfg=1.0,
            sampler_name="euler", scheduler="normal", steps=10)
    sigmas = ksampler_sigmas(MS, "euler", "normal", 10)[:-1]
    half, end = MS.percent_to_sigma(0.5), MS.percent_to_sigma(0.8)
    used = [sorted({float(v) for v in c.context[:, 0, 0]}) for c in unet.calls]
    expected = [[1.0] * (s >= half) + [2.0] * (end <= s <= half) for s in sigmas.tolist()]
    assert used == [e for e in expected if e]


def test_the_run_largest_sigma_counts_even_before_a_hooked_entry_is_active() -> None:
    group = hook(1.0, HookKeyframe(1.0, 0.0), HookKeyframe(2.0, 0.1, 3), HookKeyframe(3.0, 0.2))
    clock = KeyframeClock(fake_sigmas)
    clock.observe(20.0)  # an earlier step, with no hooked entry active
    got = [clock.active(group, s).hooks[0][1] for s in (4.0, 3.0, 2.0, 1.0)]
    assert got == [2, 2, 2, 3]  # the 0.1 keyframe started inside the run: it holds 3 steps
    assert strengths(group, [4.0, 3.0, 2.0, 1.0]) == [3, 3, 3, 3]  # a run starting at 4
