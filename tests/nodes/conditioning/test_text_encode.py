"""Text encoding nodes through the Engine on tiny checkpoints: shapes per family, SDXL's two
prompts and micro-conditions, the refiner's score, clip skip, embeddings, one tokenizer."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from diffusion.guidance.cond import Cond
from executor.jobs import JobRequest
from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader

W = 64  # tiny text width of every encoder (tiny checkpoints)
# arch: (cond channels, pooled width)
SHAPES = {"sd15": (W, W), "sd21": (W, W), "sdxl": (2 * W, W), "sdxl-refiner": (W, W)}
LONG = " ".join(["cat"] * 80)  # 80 tokens: two windows


def with_checkpoint(env: ModelEnv, tiny: TinyStore, arch: str) -> dict[str, Any]:
    env.place(tiny.path(arch), "checkpoints", f"{arch}.safetensors")  # type: ignore[arg-type]
    return {"1": loader(f"{arch}.safetensors")}


def conditioning(env: ModelEnv, prompt: dict[str, Any], node: dict[str, Any]) -> Cond:
    entries = env.probe({**prompt, "9": node}, "9")
    assert isinstance(entries, tuple) and len(entries) == 1
    return entries[0]


@pytest.mark.parametrize("arch", sorted(SHAPES))
def test_clip_text_encode_shapes_per_family(env: ModelEnv, tiny: TinyStore, arch: str) -> None:
    base = with_checkpoint(env, tiny, arch)
    channels, pooled = SHAPES[arch]
    entry = conditioning(env, base, encode("a photo of a cat", ["1", 1]))
    assert entry.cross_attn.shape == (1, 77, channels)
    assert entry.pooled_output is not None and entry.pooled_output.shape == (1, pooled)
    assert entry.area is None and entry.width is None and entry.strength == 1.0
    assert entry.cross_attn.device.type == "cpu" and torch.isfinite(entry.cross_attn).all()
    long = conditioning(env, base, encode(LONG, ["1", 1]))
    assert long.cross_attn.shape == (1, 154, channels)


def test_sdxl_encode_sets_micro_conditions_and_pads_the_shorter_prompt(
        env: ModelEnv, tiny: TinyStore) -> None:
    base = with_checkpoint(env, tiny, "sdxl")
    node = {"class_type": "CLIPTextEncodeSDXL", "inputs": {
        "clip": ["1", 1], "width": 2048, "height": 1536, "crop_w": 16, "crop_h": 8,
        "target_width": 1024, "target_height": 768, "text_g": "a cat", "text_l": "a cat"}}
    entry = conditioning(env, base, node)
    assert (entry.width, entry.height, entry.crop_w, entry.crop_h) == (2048, 1536, 16, 8)
    assert (entry.target_width, entry.target_height) == (1024, 768)
    plain = conditioning(env, base, encode("a cat", ["1", 1]))
    assert torch.equal(entry.cross_attn, plain.cross_attn)
    assert torch.equal(entry.pooled_output, plain.pooled_output)
    node["inputs"] = {**node["inputs"], "text_g": LONG, "text_l": "a dog"}
    mixed = conditioning(env, base, node)
    assert mixed.cross_attn.shape == (1, 154, 2 * W)
    empty_l = conditioning(env, base, encode("", ["1", 1])).cross_attn[..., :W]
    assert torch.allclose(mixed.cross_attn[:, 77:, :W], empty_l, atol=1e-6)  # padded CLIP-L
    long_g = conditioning(env, base, encode(LONG, ["1", 1])).cross_attn[..., W:]
    assert torch.allclose(mixed.cross_attn[..., W:], long_g, atol=1e-6)


def test_sdxl_encode_refuses_a_clip_without_both_encoders(env: ModelEnv, tiny: TinyStore) -> None:
    base = with_checkpoint(env, tiny, "sd15")
    node = {"class_type": "CLIPTextEncodeSDXL", "inputs": {
        "clip": ["1", 1], "width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0,
        "target_width": 1024, "target_height": 1024, "text_g": "a", "text_l": "a"}}
    result = env.engine.execute(JobRequest("sd1-xl", {
        **base, "9": node, "p": {"class_type": "Probe", "inputs": {"value": ["9", 0]}}}))
    assert result.failure is not None and "CLIPTextEncodeSDXL input 'clip'" in \
        result.failure.message and "sd1" in result.failure.message


def test_refiner_encode_sets_score_and_size(env: ModelEnv, tiny: TinyStore) -> None:
    base = with_checkpoint(env, tiny, "sdxl-refiner")
    node = {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {
        "ascore": 2.5, "width": 800, "height": 600, "text": "a cat", "clip": ["1", 1]}}
    entry = conditioning(env, base, node)
    assert (entry.aesthetic_score, entry.width, entry.height) == (2.5, 800, 600)
    assert entry.crop_w == 0 and entry.target_width is None
    assert entry.cross_attn.shape == (1, 77, W) and entry.pooled_output.shape == (1, W)


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_clip_set_last_layer_changes_the_encoding(env: ModelEnv, tiny: TinyStore,
                                                  arch: str) -> None:
    base = with_checkpoint(env, tiny, arch)

    def at(layer: int) -> torch.Tensor:
        skip = {"class_type": "CLIPSetLastLayer",
                "inputs": {"clip": ["1", 1], "stop_at_clip_layer": layer}}
        return conditioning(env, {**base, "2": skip}, encode("a cat", ["2", 0])).cross_attn

    default = conditioning(env, base, encode("a cat", ["1", 1])).cross_attn
    last, penultimate = at(-1), at(-2)
    assert not torch.allclose(last, penultimate)
    if arch == "sd15":  # SD1 uses the final-normed last layer by default
        assert torch.equal(default, last)
        assert torch.equal(at(-24), last)  # deeper than the encoder: its last layer
    else:  # SDXL uses the penultimate layer without final norm by default
        assert torch.equal(default, penultimate)


def test_embeddings_come_from_the_embeddings_folder(env: ModelEnv, tiny: TinyStore) -> None:
    base = with_checkpoint(env, tiny, "sd15")

    def cond(text: str) -> torch.Tensor:
        return conditioning(env, base, encode(text, ["1", 1])).cross_attn

    assert torch.equal(cond("x embedding:style"), cond("x"))  # unknown embedding: dropped
    folder = env.base / "models" / "embeddings" / "sub"
    folder.mkdir(parents=True)
    vectors = torch.randn((2, W), generator=torch.Generator().manual_seed(3))
    save_file({"emb_params": vectors}, folder / "style.safetensors")
    # (new texts: the cache does not watch embedding files, as in ComfyUI)
    with_file, plain = cond("y embedding:style"), cond("y")
    assert torch.equal(with_file[:, :2], plain[:, :2])  # bos and "y" are unchanged
    assert not torch.allclose(with_file[:, 2:4], plain[:, 2:4])  # the two spliced vectors


def test_the_tokenizer_is_built_once(tmp_path: Any, tiny: TinyStore) -> None:
    from nodes.models import TokenizerCache
    from tests.nodes.models.support import make_env, shared_tokenizer

    built: list[int] = []

    def factory() -> Any:
        built.append(1)
        return shared_tokenizer()

    env = make_env(tmp_path, tokenizer=TokenizerCache(factory))
    base = with_checkpoint(env, tiny, "sd15")
    env.place(tiny.path("sd21"), "checkpoints", "two.safetensors")
    env.probe(base, "1", 1)
    assert built == []  # the loader does not build it
    env.probe({**base, "2": encode("a", ["1", 1])}, "2")
    env.probe({"1": loader("two.safetensors"), "2": encode("b", ["1", 1])}, "2")
    assert built == [1]
