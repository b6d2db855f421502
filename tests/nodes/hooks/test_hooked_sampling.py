"""Hooked conditioning through KSampler on a tiny SD1.5 checkpoint with a LoRA written for it.

A hooked LoRA patches the diffusion model only for the entries that carry it and only inside
its keyframe window: hooking both sides equals sampling the window with the LoraLoader model
and the rest with the plain one (KSamplerAdvanced step windows); hooking the positive only
equals a hand-written guider that evaluates the positive with the LoRA model inside the window
and the negative always with the plain model. A checkpoint as a LoRA at strength 1 samples like
that checkpoint; default entries take over where a hooked range ends; no hooks (or an empty
group) changes nothing; patched copies are built once per strength and shared with
LoraLoader's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance import CFGGuider, Cond, GuidedModel, sample
from diffusion.sampling import Denoiser, SeededNoise, get_sampler, ksampler_sigmas
from nodes.payloads import DiffusionModel
from tests.nodes.hooks.graphs import (
    LORA,
    hook_lora,
    keyframe,
    ksampler,
    ksampler_window,
    latent,
    node,
    setup,
)
from tests.nodes.models.support import ModelEnv, TinyStore

STEPS, CFG, STRENGTH, SWITCH = 6, 5.0, 0.8, 0.5


def window_hooks() -> dict[str, Any]:
    """A model-only LoRA hook at STRENGTH, scaled 1 until SWITCH of the schedule, then 0."""
    return {"hook": hook_lora(STRENGTH, 0.0), "kf0": keyframe(1.0, 0.0),
            "kf1": keyframe(0.0, SWITCH, ["kf0", 0]),
            "sched": node("SetHookKeyframes", hooks=["hook", 0], hook_kf=["kf1", 0])}


def lora_model() -> dict[str, Any]:
    return node("LoraLoaderModelOnly", model=["ckpt", 0], lora_name=LORA,
                strength_model=STRENGTH)


def window_steps(model: DiffusionModel) -> int:
    """Steps whose sigma is above the switch keyframe's start (they get strength 1)."""
    sigmas = ksampler_sigmas(model.model_sampling, "euler", "normal", STEPS)[:-1]
    return int((sigmas > model.model_sampling.percent_to_sigma(SWITCH)).sum())


def sampled(env: ModelEnv, graph: dict[str, Any], out: str = "out") -> Tensor:
    samples: Tensor = env.probe(graph, out).samples
    return samples


def assert_same_up_to_rounding(got: Tensor, want: Tensor) -> None:
    """Equal but for float rounding: a hooked run batches cond and uncond apart, and a GEMM's
    rounding depends on its batch (measured max |diff| ~2e-7 of the largest value)."""
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()


def split_run(env: ModelEnv, base: dict[str, Any]) -> Tensor:
    """The LoraLoader model for the steps before SWITCH, then the plain model."""
    k = window_steps(env.probe(base, "ckpt"))
    assert 0 < k < STEPS
    split = {**base, "lora": lora_model(),
             "first": ksampler_window(["lora", 0], ["pos", 0], ["neg", 0], ["latent", 0],
                                      steps=STEPS, cfg=CFG, start=0, end=k, first=True),
             "out": ksampler_window(["ckpt", 0], ["pos", 0], ["neg", 0], ["first", 0],
                                    steps=STEPS, cfg=CFG, start=k, end=10000, first=False)}
    return sampled(env, split)


def test_hooking_both_sides_equals_the_lora_model_for_the_window(
        env: ModelEnv, tiny: TinyStore) -> None:
    base = {**setup(env, tiny), **window_hooks(), "latent": latent()}
    hooked = {**base, "pair": node("PairConditioningSetProperties", positive_NEW=["pos", 0],
                                   negative_NEW=["neg", 0], strength=1.0,
                                   set_cond_area="default", hooks=["sched", 0]),
              "out": ksampler(["ckpt", 0], ["pair", 0], ["pair", 1], steps=STEPS, cfg=CFG)}
    got = sampled(env, hooked)
    copies = env.manager.patched_copies
    assert_same_up_to_rounding(got, split_run(env, base))
    plain = sampled(env, {**base, "out": ksampler(["ckpt", 0], ["pos", 0], ["neg", 0],
                                                  steps=STEPS, cfg=CFG)})
    assert (got - plain).abs().max() > 1e-2
    assert env.manager.patched_copies == copies == 1  # LoraLoader's 0.8 copy is the hook's


@dataclass(frozen=True, eq=False)
class WindowGuider:
    """By hand: the positive with the LoRA model while sigma > boundary, else with the plain
    model; the negative always with the plain model; CFG of the two."""

    model: GuidedModel
    lora: GuidedModel
    positive: tuple[Cond, ...]
    negative: tuple[Cond, ...]
    boundary: float

    def denoiser(self, latent: Tensor, mask: Tensor | None) -> Denoiser:
        def alone(model: GuidedModel, entries: tuple[Cond, ...]) -> Denoiser:
            return CFGGuider(model, entries, (), 1.0).denoiser(latent, mask)

        with_lora, plain = alone(self.lora, self.positive), alone(self.model, self.positive)
        uncond = alone(self.model, self.negative)

        def denoise(x: Tensor, sigma: Tensor, **_: Any) -> Tensor:
            cond = (with_lora if float(sigma[0]) > self.boundary else plain)(x, sigma)
            un = uncond(x, sigma)
            return un + (cond - un) * CFG

        return denoise


def by_hand(env: ModelEnv, graph: dict[str, Any]) -> Tensor:
    model, lora = env.probe(graph, "ckpt"), env.probe(graph, "lora")
    positive, negative = env.probe(graph, "pos"), env.probe(graph, "neg")
    boundary = model.model_sampling.percent_to_sigma(SWITCH)
    with env.manager.use(model.unet) as unet, env.manager.use(lora.unet, lora.patches) as patched:
        guider = WindowGuider(
            GuidedModel.from_unet(unet, model.model_sampling, model.latent_format),
            GuidedModel.from_unet(patched, model.model_sampling, model.latent_format),
            positive, negative, boundary)
        sampler = get_sampler("euler")
        sigmas = ksampler_sigmas(model.model_sampling, sampler, "normal", STEPS)
        return sample(guider, sampler, sigmas, SeededNoise(1), torch.zeros(1, 4, 8, 8))


def test_hooked_positive_alone_uses_the_lora_only_for_itself_and_its_window(
        env: ModelEnv, tiny: TinyStore) -> None:
    base = {**setup(env, tiny), **window_hooks(), "latent": latent(), "lora": lora_model()}
    hooked = {**base, "p": node("ConditioningSetProperties", cond_NEW=["pos", 0], strength=1.0,
                                set_cond_area="default", hooks=["sched", 0]),
              "out": ksampler(["ckpt", 0], ["p", 0], ["neg", 0], steps=STEPS, cfg=CFG)}
    got = sampled(env, hooked)
    assert torch.allclose(got, by_hand(env, base), atol=1e-5, rtol=1e-5)
    both = sampled(env, {**base, "out": ksampler(["lora", 0], ["pos", 0], ["neg", 0],
                                                 steps=STEPS, cfg=CFG)})
    plain = sampled(env, {**base, "out": ksampler(["ckpt", 0], ["pos", 0], ["neg", 0],
                                                  steps=STEPS, cfg=CFG)})
    assert min((got - both).abs().max(), (got - plain).abs().max()) > 1e-2


def test_no_hooks_or_an_empty_group_change_nothing(env: ModelEnv, tiny: TinyStore) -> None:
    base = {**setup(env, tiny), "latent": latent(),
            "plain": ksampler(["ckpt", 0], ["pos", 0], ["neg", 0], steps=3, cfg=CFG)}
    plain = sampled(env, base, "plain")
    empty = {**base, "hook": hook_lora(0.0, 0.0),
             "p": node("PairConditioningSetProperties", positive_NEW=["pos", 0],
                       negative_NEW=["neg", 0], strength=2.0, set_cond_area="mask bounds",
                       hooks=["hook", 0]),
             "out": ksampler(["ckpt", 0], ["p", 0], ["p", 1], steps=3, cfg=CFG)}
    assert len(env.probe(empty, "hook")) == 0
    assert torch.equal(sampled(env, empty), plain)


def test_checkpoint_as_lora_at_full_strength_samples_like_that_checkpoint(
        env: ModelEnv, tiny: TinyStore) -> None:
    base = {**setup(env, tiny), "latent": latent()}
    env.place(tiny.variant("sd15", 11), "checkpoints", "other.safetensors")
    graph = {**base, "other": node("CheckpointLoaderSimple", ckpt_name="other.safetensors"),
             "hook": node("CreateHookModelAsLoraModelOnly", ckpt_name="other.safetensors",
                          strength_model=1.0),
             "p": node("PairConditioningSetProperties", positive_NEW=["pos", 0],
                       negative_NEW=["neg", 0], strength=1.0, set_cond_area="default",
                       hooks=["hook", 0]),
             "out": ksampler(["ckpt", 0], ["p", 0], ["p", 1], steps=3, cfg=CFG),
             "ref": ksampler(["other", 0], ["pos", 0], ["neg", 0], steps=3, cfg=CFG),
             "plain": ksampler(["ckpt", 0], ["pos", 0], ["neg", 0], steps=3, cfg=CFG)}
    got, ref = sampled(env, graph), sampled(env, graph, "ref")
    assert torch.allclose(got, ref, atol=1e-4, rtol=1e-4)
    assert (got - sampled(env, graph, "plain")).abs().max() > 1e-2


def test_default_entries_take_over_where_the_hooked_range_ends(
        env: ModelEnv, tiny: TinyStore) -> None:
    base = {**setup(env, tiny), "latent": latent()}
    graph = {**base, "hook": node("CreateHookLoraModelOnly", lora_name=LORA,
                                  strength_model=STRENGTH),
             "range": node("ConditioningTimestepsRange", start_percent=0.0,
                           end_percent=SWITCH),
             "hooked": node("PairConditioningSetProperties", positive_NEW=["pos", 0],
                            negative_NEW=["neg", 0], strength=1.0, set_cond_area="default",
                            hooks=["hook", 0], timesteps=["range", 0]),
             "both": node("PairConditioningSetDefaultCombine", positive=["hooked", 0],
                          negative=["hooked", 1], positive_DEFAULT=["pos", 0],
                          negative_DEFAULT=["neg", 0]),
             "out": ksampler(["ckpt", 0], ["both", 0], ["both", 1], steps=STEPS, cfg=CFG)}
    assert_same_up_to_rounding(sampled(env, graph), split_run(env, base))
