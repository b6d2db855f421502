"""Merging nodes on tiny checkpoints: the maths bit for bit against the hand formula, ratio 1.0
giving model1's sampled outputs exactly, block ratios on the right keys, CLIP merges leaving
logit_scale alone, patches appended without touching the inputs, incompatible models refused."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import torch

from diffusion.patching import MergePatch, PatchSet, WeightDiff
from nodes.models.merging import (
    CLIPMergeAdd,
    CLIPMergeSimple,
    CLIPMergeSubtract,
    ModelMergeAdd,
    ModelMergeSimple,
    ModelMergeSubtract,
)
from nodes.models.merging_blocks import (
    ModelMergeBlocks,
    ModelMergeSD1,
    ModelMergeSDXL,
    block_ratio,
)
from tests.nodes.models.merge_helpers import ctx, identical, load, model_weights, weights
from tests.nodes.models.support import ModelEnv, TinyStore, encode

Formula = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@pytest.mark.parametrize(("node", "args", "formula"), [
    (ModelMergeSimple, (0.3,), lambda a, b: 0.3 * a + (1 - 0.3) * b),
    (ModelMergeSubtract, (0.7,), lambda a, b: 0.7 * a + -0.7 * b),
    (ModelMergeAdd, (), lambda a, b: 1.0 * a + 1.0 * b),
])
def test_model_merges_are_the_hand_formula_bit_for_bit(env: ModelEnv, tiny: TinyStore,
                                                       node: type, args: tuple[float, ...],
                                                       formula: Formula) -> None:
    one, two = load(env, tiny, "sd15").model, load(env, tiny, "sd15", seed=8).model
    merged = node().run(ctx(env), one, two, *args)[0]
    w1, w2, got = model_weights(env, one), model_weights(env, two), model_weights(env, merged)
    assert got.keys() == w1.keys()
    for key in got:
        assert torch.equal(got[key], formula(w1[key], w2[key])), key
    assert not torch.equal(got["out.2.weight"], w1["out.2.weight"])


def test_ratio_one_gives_model1s_samples_bit_identically(env: ModelEnv, tiny: TinyStore) -> None:
    load(env, tiny, "sd15")
    load(env, tiny, "sd15", seed=8)
    graph = {
        "a": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "b": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "sd15-seed8.safetensors"}},
        "merge": {"class_type": "ModelMergeSimple",
                  "inputs": {"model1": ["a", 0], "model2": ["b", 0], "ratio": 1.0}},
        "pos": encode("a fox", ["a", 1]), "neg": encode("", ["a", 1]),
        "latent": {"class_type": "EmptyLatentImage",
                   "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    }

    def sample(model: str) -> torch.Tensor:
        node = {"class_type": "KSampler", "inputs": {
            "model": [model, 0], "seed": 1, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0],
            "latent_image": ["latent", 0], "denoise": 1.0}}
        return env.probe({**graph, "k": node}, "k").samples  # type: ignore[no-any-return]

    assert torch.equal(sample("merge"), sample("a"))
    half = {**graph["merge"], "inputs": {**graph["merge"]["inputs"], "ratio": 0.5}}
    graph["merge"] = half
    assert not torch.equal(sample("merge"), sample("a"))


def test_a_merge_appends_to_model1s_patches_and_leaves_the_inputs(env: ModelEnv,
                                                                  tiny: TinyStore) -> None:
    one, two = load(env, tiny, "sd15").model, load(env, tiny, "sd15", seed=8).model
    lora = PatchSet((WeightDiff("out.2.weight", torch.ones(4, 32, 3, 3)),))
    patched = dataclasses.replace(one, patches=lora)
    merged = ModelMergeSimple().run(ctx(env), patched, two, 0.5)[0]
    assert merged.patches.patches[0] is lora.patches[0]
    assert all(isinstance(p, MergePatch) for p in merged.patches.patches[1:])
    assert patched.patches == lora and two.patches == PatchSet.EMPTY
    assert merged.unet is one.unet and merged.model_sampling is one.model_sampling
    got = model_weights(env, merged)
    base, other = model_weights(env, one), model_weights(env, two)
    key = "out.2.weight"
    assert torch.equal(got[key], 0.5 * (base[key] + 1.0) + 0.5 * other[key])


def test_incompatible_models_are_refused_naming_both_families(env: ModelEnv,
                                                              tiny: TinyStore) -> None:
    sd15, sdxl = load(env, tiny, "sd15"), load(env, tiny, "sdxl")
    with pytest.raises(ValueError, match=r"ModelMergeSimple: cannot merge model1 \(sd1, .*"
                                         r"sd15.safetensors\) with model2 \(sdxl, .*\)"):
        ModelMergeSimple().run(ctx(env), sd15.model, sdxl.model, 0.5)
    with pytest.raises(ValueError, match=r"CLIPMergeAdd: cannot merge clip1 \(sdxl"):
        CLIPMergeAdd().run(ctx(env), sdxl.clip, sd15.clip)


def test_same_family_keys_of_other_shapes_are_left_and_noted(env: ModelEnv,
                                                             tiny: TinyStore) -> None:
    plain, inpaint = load(env, tiny, "sd15").model, load(env, tiny, "sd15-inpaint").model
    context = ctx(env)
    merged = ModelMergeSimple().run(context, plain, inpaint, 0.5)[0]
    assert context.notes["unmerged_keys"] == ["input_blocks.0.0.weight"]
    got, base = model_weights(env, merged), model_weights(env, plain)
    assert torch.equal(got["input_blocks.0.0.weight"], base["input_blocks.0.0.weight"])


def test_block_ratio_takes_the_longest_prefix_else_the_first() -> None:
    blocks = {"input": 0.1, "middle": 0.2, "out": 0.3}
    assert block_ratio("time_embed.0.weight", blocks) == 0.1  # no match: the first ratio
    assert block_ratio("input_blocks.4.0.x", blocks) == 0.1
    assert block_ratio("middle_block.1.x", blocks) == 0.2
    assert block_ratio("output_blocks.2.0.x", blocks) == 0.3
    assert block_ratio("out.2.weight", blocks) == 0.3
    sd1 = {"time_embed.": 0.5, "input_blocks.1.": 0.25, "input_blocks.10.": 0.75}
    assert block_ratio("input_blocks.10.0.x", sd1) == 0.75
    assert block_ratio("input_blocks.1.0.x", sd1) == 0.25
    assert block_ratio("label_emb.0.0.weight", sd1) == 0.5


def _scales(model: object) -> dict[str, float]:
    patches = model.patches.patches  # type: ignore[attr-defined]
    return {p.key: p.self_scale for p in patches if isinstance(p, MergePatch)}


def test_block_merges_put_each_ratio_on_its_keys(env: ModelEnv, tiny: TinyStore) -> None:
    one, two = load(env, tiny, "sd15").model, load(env, tiny, "sd15", seed=8).model
    merged = ModelMergeBlocks().run(ctx(env), one, two, input=0.1, middle=0.2, out=0.3)[0]
    scales = _scales(merged)
    expected = {"time_embed.": 0.1, "input_blocks.": 0.1, "middle_block.": 0.2,
                "output_blocks.": 0.3, "out.": 0.3}
    for key, scale in scales.items():
        prefix = next(p for p in expected if key.startswith(p))
        assert scale == expected[prefix], key
    assert len(scales) == len(model_weights(env, one))
    patch = next(p for p in merged.patches if p.key == "middle_block.1.proj_in.weight")
    assert isinstance(patch, MergePatch) and patch.source_scale == pytest.approx(0.8)

    names = [i.name for i in ModelMergeSD1.inputs[2:]]
    ratios = {name: index / 100 for index, name in enumerate(names)}
    scales = _scales(ModelMergeSD1().run(ctx(env), one, two, **ratios)[0])
    assert scales["input_blocks.1.1.proj_in.weight"] == ratios["input_blocks.1."]
    assert scales["output_blocks.3.0.skip_connection.weight"] == ratios["output_blocks.3."]
    assert scales["out.0.weight"] == ratios["out."]
    assert scales["time_embed.0.weight"] == ratios["time_embed."]


def test_sdxl_block_merge_names_match_sdxl_keys(env: ModelEnv, tiny: TinyStore) -> None:
    one, two = load(env, tiny, "sdxl").model, load(env, tiny, "sdxl", seed=8).model
    names = [i.name for i in ModelMergeSDXL.inputs[2:]]
    ratios = {name: 0.5 + index / 100 for index, name in enumerate(names)}
    scales = _scales(ModelMergeSDXL().run(ctx(env), one, two, **ratios)[0])
    assert scales["label_emb.0.0.weight"] == ratios["label_emb."]
    assert scales["input_blocks.3.1.proj_in.weight"] == ratios["input_blocks.3"]
    assert scales["output_blocks.1.1.proj_in.weight"] == ratios["output_blocks.1"]
    assert scales["middle_block.2.out_layers.3.weight"] == ratios["middle_block.2"]


@pytest.mark.parametrize(("node", "args", "formula"), [
    (CLIPMergeSimple, (0.25,), lambda a, b: 0.25 * a + (1 - 0.25) * b),
    (CLIPMergeSubtract, (2.0,), lambda a, b: 2.0 * a + -2.0 * b),
    (CLIPMergeAdd, (), lambda a, b: 1.0 * a + 1.0 * b),
])
def test_clip_merges_each_encoder_but_not_logit_scale(env: ModelEnv, tiny: TinyStore,
                                                      node: type, args: tuple[float, ...],
                                                      formula: Formula) -> None:
    one, two = load(env, tiny, "sdxl").clip, load(env, tiny, "sdxl", seed=8).clip
    merged = node().run(ctx(env), one, two, *args)[0]
    assert merged.names() == ("clip_l", "clip_g") and merged.tokenizer is one.tokenizer
    for mine, theirs, new in zip(one.encoders, two.encoders, merged.encoders, strict=True):
        w1, w2 = weights(env, mine.handle), weights(env, theirs.handle)
        got = weights(env, new.handle, new.patches)
        for key in got:
            if key == "logit_scale":
                assert torch.equal(got[key], w1[key])
            else:
                assert torch.equal(got[key], formula(w1[key], w2[key])), (new.name, key)
    assert identical(weights(env, one.encoders[0].handle, one.encoders[0].patches),
                     weights(env, one.encoders[0].handle))


def test_block_ratio_inputs_with_dots_go_through_the_engine(env: ModelEnv,
                                                            tiny: TinyStore) -> None:
    load(env, tiny, "sd15")
    load(env, tiny, "sd15", seed=8)
    ratios = {i.name: 0.5 for i in ModelMergeSD1.inputs[2:]}
    ratios["out."] = 0.25
    prompt = {
        "a": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "b": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "sd15-seed8.safetensors"}},
        "m": {"class_type": "ModelMergeSD1",
              "inputs": {"model1": ["a", 0], "model2": ["b", 0], **ratios}},
    }
    scales = _scales(env.probe(prompt, "m"))
    assert scales["out.2.weight"] == 0.25 and scales["input_blocks.0.0.weight"] == 0.5
