"""SetClipHooks through the engine: the text encoders carry the hook's LoRA at strength_clip
(the same encoding LoraLoader gives), keyframes are ignored unless scheduled, a scheduled CLIP
encodes once per keyframe range with ranged entries, and apply_to_conds attaches the hooks."""

from __future__ import annotations

from typing import Any

import torch

from tests.nodes.hooks.graphs import LORA, hook_lora, keyframe, node, setup
from tests.nodes.models.support import ModelEnv, TinyStore, encode


def lora_encoding(env: ModelEnv, base: dict[str, Any], strength_clip: float) -> torch.Tensor:
    lora = node("LoraLoader", model=["ckpt", 0], clip=["ckpt", 1], lora_name=LORA,
                strength_model=1.0, strength_clip=strength_clip)
    (entry,) = env.probe({**base, "lora": lora, "e": encode("a red fox", ["lora", 1])}, "e")
    return entry.cross_attn


def clip_hooks(hooks: list[Any], *, apply: bool = True, schedule: bool = False) -> dict[str, Any]:
    return node("SetClipHooks", clip=["ckpt", 1], apply_to_conds=apply, schedule_clip=schedule,
                hooks=hooks)


def test_clip_hooks_encode_like_lora_loader_and_attach_the_hooks(
        env: ModelEnv, tiny: TinyStore) -> None:
    base = setup(env, tiny)
    graph = {**base, "hook": hook_lora(1.0, 0.5), "clip": clip_hooks(["hook", 0]),
             "e": encode("a red fox", ["clip", 0])}
    (entry,) = env.probe(graph, "e")
    hooks = env.probe(graph, "hook")
    plain = env.probe(graph, "pos")[0].cross_attn
    assert torch.equal(entry.cross_attn, lora_encoding(env, base, 0.5))
    assert not torch.allclose(entry.cross_attn, plain)
    assert entry.hooks is hooks and entry.clip_start_percent is None
    detached = {**graph, "clip": clip_hooks(["hook", 0], apply=False)}
    (bare,) = env.probe(detached, "e")
    assert bare.hooks is None and torch.equal(bare.cross_attn, entry.cross_attn)


def test_model_only_hook_leaves_the_text_encoding_alone(env: ModelEnv, tiny: TinyStore) -> None:
    base = setup(env, tiny)
    hook = node("CreateHookLoraModelOnly", lora_name=LORA, strength_model=1.0)
    graph = {**base, "hook": hook, "clip": clip_hooks(["hook", 0]),
             "e": encode("a red fox", ["clip", 0])}
    (entry,) = env.probe(graph, "e")
    assert torch.equal(entry.cross_attn, env.probe(graph, "pos")[0].cross_attn)
    assert entry.hooks is not None and len(entry.hooks) == 1


def test_scheduled_clip_encodes_once_per_keyframe_range(env: ModelEnv, tiny: TinyStore) -> None:
    base = setup(env, tiny)
    graph = {
        **base, "hook": hook_lora(0.0, 1.0), "kf0": keyframe(1.0, 0.0),
        "kf1": keyframe(0.5, 0.5, ["kf0", 0]),
        "sched": node("SetHookKeyframes", hooks=["hook", 0], hook_kf=["kf1", 0]),
        "clip": clip_hooks(["sched", 0], schedule=True), "e": encode("a red fox", ["clip", 0]),
    }
    early, late = env.probe(graph, "e")
    assert (early.clip_start_percent, early.clip_end_percent) == (0.0, 0.5)
    assert (late.clip_start_percent, late.clip_end_percent) == (0.5, 1.0)
    assert torch.equal(early.cross_attn, lora_encoding(env, base, 1.0))
    assert torch.equal(late.cross_attn, lora_encoding(env, base, 0.5))
    unscheduled = {**graph, "clip": clip_hooks(["sched", 0], schedule=False)}
    (whole,) = env.probe(unscheduled, "e")
    assert whole.clip_start_percent is None and torch.equal(whole.cross_attn, early.cross_attn)


def test_an_empty_combine_flows_through_as_no_hooks(env: ModelEnv, tiny: TinyStore) -> None:
    base = setup(env, tiny)
    graph = {**base, "none": node("CombineHooks2"),
             "kf": keyframe(0.5, 0.0),
             "sched": node("SetHookKeyframes", hooks=["none", 0], hook_kf=["kf", 0]),
             "clip": clip_hooks(["sched", 0]), "e": encode("a red fox", ["clip", 0])}
    assert env.probe(graph, "sched") is None
    (entry,) = env.probe(graph, "e")
    assert entry.hooks is None
    assert torch.equal(entry.cross_attn, env.probe(graph, "pos")[0].cross_attn)
