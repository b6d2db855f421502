"""Model hooks carried by a ``GuidedModel`` reach guidance: per-step conditioning modifiers,
post-CFG functions, and attention processors inside the UNet (with the cond/uncond layout of
each batched forward); and a run with no hooks is bit-identical to one without the hooks."""

from __future__ import annotations

import dataclasses

import torch
from _guidance_testlib import ToyUNet, text, tiny_model, toy_model
from torch import Tensor

from diffusion.guidance import CFGGuider, ModelHooks, PostCFGArgs, StepConds, sample
from diffusion.sampling import SeededNoise, get_sampler, ksampler_sigmas
from diffusion.unet.attention import Attend, AttentionInfo

SHAPE = (1, 4, 8, 8)


def _run(model: object, positive: tuple, negative: tuple, cfg: float = 5.0) -> Tensor:
    guider = CFGGuider(model, positive, negative, cfg)  # type: ignore[arg-type]
    sigmas = ksampler_sigmas(guider.model.model_sampling, "euler", "normal", 2)
    return sample(guider, get_sampler("euler"), sigmas, SeededNoise(3), torch.zeros(SHAPE))


def test_a_conditioning_modifier_changes_what_each_step_evaluates() -> None:
    seen: list[StepConds] = []

    def swap_sides(step: StepConds) -> tuple:
        seen.append(step)
        positive, negative = step.sides
        return (negative, positive)

    unet = ToyUNet()
    hooks = ModelHooks(cond_modifiers=(swap_sides,))
    swapped = _run(toy_model(unet, hooks=hooks), (text(0.3),), (text(-1.0),))
    by_hand = _run(toy_model(), (text(-1.0),), (text(0.3),))
    assert torch.equal(swapped, by_hand)
    assert len(seen) == 2 and seen[0].x.shape == SHAPE and seen[0].sigma.shape == (1,)


def test_post_cfg_functions_run_in_order_after_guidance() -> None:
    calls: list[float] = []

    def halve(args: PostCFGArgs) -> Tensor:
        calls.append(args.cond_scale)
        return args.denoised * 0.5

    plain = toy_model()
    halved = _run(dataclasses.replace(plain, hooks=ModelHooks(post_cfg=(halve,))),
                  (text(0.3),), (text(-1.0),))
    assert calls == [5.0, 5.0] and not torch.equal(halved, _run(plain, (text(0.3),),
                                                                 (text(-1.0),)))


def test_attention_processors_reach_the_unet_with_the_batch_layout() -> None:
    model = tiny_model("sd1")
    positive, negative = (text(0.5, channels=24),), (text(0.0, channels=24),)
    seen: list[AttentionInfo] = []

    def record(q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend) -> Tensor:
        seen.append(info)
        return attend(q, k, v)

    plain = _run(model, positive, negative)
    hooked = _run(dataclasses.replace(model, hooks=ModelHooks(attention=(record,))),
                  positive, negative)
    assert torch.equal(hooked, plain)  # a pass-through processor changes nothing
    # cond and uncond share each forward, uncond rows first (ComfyUI's order)
    assert {info.cond_or_uncond for info in seen} == {(1, 0)}
    assert {info.kind for info in seen} == {"self", "cross"}

    def no_self_attention(q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo,
                          attend: Attend) -> Tensor:
        return v if info.kind == "self" else attend(q, k, v)

    changed = _run(dataclasses.replace(model, hooks=ModelHooks(attention=(no_self_attention,))),
                   positive, negative)
    assert not torch.equal(changed, plain)


def test_hooks_plus_appends_without_changing_the_original() -> None:
    def first(args: PostCFGArgs) -> Tensor:
        return args.denoised

    base = ModelHooks(post_cfg=(first,))
    more = base.plus(post_cfg=(first,), cond_modifiers=(lambda step: step.sides,))
    assert len(base.post_cfg) == 1 and len(more.post_cfg) == 2 and len(more.cond_modifiers) == 1
    assert not ModelHooks() and more


def test_without_processors_the_unet_gets_no_attention_argument() -> None:
    unet = ToyUNet()
    _run(toy_model(unet), (text(0.3),), (text(-1.0),))
    assert "attention" not in unet.calls[0].kwargs  # no processors: the UNet call is unchanged
