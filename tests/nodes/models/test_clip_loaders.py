"""CLIPLoader and DualCLIPLoader on text-encoder files cut out of tiny checkpoints: the same
encodings as the checkpoint's own CLIP, slots by kind, unsupported types refused."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from executor.errors import PromptError
from executor.jobs import JobRequest
from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader

CLIP_L_SD15 = ("sd15", "cond_stage_model.transformer.", "sd15-clip-l.safetensors")
CLIP_H_SD21 = ("sd21", "cond_stage_model.model.", "sd21-clip-h.safetensors")
CLIP_L_SDXL = ("sdxl", "conditioner.embedders.0.transformer.", "sdxl-clip-l.safetensors")
CLIP_G_SDXL = ("sdxl", "conditioner.embedders.1.model.", "sdxl-clip-g.safetensors")
TEXT = "a (red:1.2) fox in the snow"


def clip_loader(name: str, kind: str = "stable_diffusion") -> dict[str, Any]:
    return {"class_type": "CLIPLoader", "inputs": {"clip_name": name, "type": kind}}


def encoding(env: ModelEnv, clip_node: dict[str, Any], slot: int = 0) -> torch.Tensor:
    """The CLIPTextEncode of TEXT with the CLIP at output ``slot`` of ``clip_node``."""
    entry = env.probe({"1": clip_node, "2": encode(TEXT, ["1", slot])}, "2")[0]
    return entry.cross_attn


@pytest.mark.parametrize("part, family", [(CLIP_L_SD15, "sd1"), (CLIP_H_SD21, "sd2")])
def test_clip_loader_matches_the_checkpoint_clip(env: ModelEnv, tiny: TinyStore,
                                                 part: tuple[str, str, str], family: str) -> None:
    arch, prefix, name = part
    env.place(tiny.part(arch, prefix, name), "clip", name)  # type: ignore[arg-type]
    env.place(tiny.path(arch), "checkpoints", "full.safetensors")  # type: ignore[arg-type]
    clip = env.probe({"1": clip_loader(name)}, "1")
    assert clip.family == family and len(clip.encoders) == 1
    from_file = encoding(env, clip_loader(name))
    from_checkpoint = encoding(env, loader("full.safetensors"), 1)
    assert torch.equal(from_file, from_checkpoint)


@pytest.mark.parametrize("order", [(CLIP_L_SDXL, CLIP_G_SDXL), (CLIP_G_SDXL, CLIP_L_SDXL)])
def test_dual_clip_loader_fills_sdxl_slots_in_either_order(
        env: ModelEnv, tiny: TinyStore, order: tuple[tuple[str, str, str], ...]) -> None:
    for arch, prefix, name in order:
        env.place(tiny.part(arch, prefix, name), "text_encoders", name)  # type: ignore[arg-type]
    env.place(tiny.path("sdxl"), "checkpoints", "xl.safetensors")
    dual = {"class_type": "DualCLIPLoader", "inputs": {
        "clip_name1": order[0][2], "clip_name2": order[1][2], "type": "sdxl"}}
    clip = env.probe({"1": dual}, "1")
    assert clip.family == "sdxl" and clip.names() == ("clip_l", "clip_g")
    assert [(e.layer, e.final_norm) for e in clip.encoders] == [(-2, False), (-2, False)]
    assert torch.equal(encoding(env, dual), encoding(env, loader("xl.safetensors"), 1))


def test_dual_clip_loader_refuses_two_clip_l_files(env: ModelEnv, tiny: TinyStore) -> None:
    arch, prefix, name = CLIP_L_SDXL
    env.place(tiny.part(arch, prefix, name), "clip", "a.safetensors")  # type: ignore[arg-type]
    env.place(tiny.part(arch, prefix, name), "clip", "b.safetensors")  # type: ignore[arg-type]
    dual = {"class_type": "DualCLIPLoader", "inputs": {
        "clip_name1": "a.safetensors", "clip_name2": "b.safetensors", "type": "sdxl"}}
    result = env.engine.execute(JobRequest("dual", {
        "1": dual, "p": {"class_type": "Probe", "inputs": {"value": ["1", 0]}}}))
    assert result.failure is not None
    assert "needs one CLIP-L and one OpenCLIP bigG" in result.failure.message


@pytest.mark.parametrize("node, kind", [("CLIPLoader", "sd3"), ("DualCLIPLoader", "flux")])
def test_unsupported_clip_types_fail_validation(env: ModelEnv, tiny: TinyStore, node: str,
                                                kind: str) -> None:
    arch, prefix, name = CLIP_L_SD15
    env.place(tiny.part(arch, prefix, name), "clip", name)  # type: ignore[arg-type]
    inputs: dict[str, Any] = {"type": kind}
    if node == "CLIPLoader":
        inputs["clip_name"] = name
    else:
        inputs.update(clip_name1=name, clip_name2=name)
    with pytest.raises(PromptError) as caught:
        env.run({"1": {"class_type": node, "inputs": inputs},
                 "p": {"class_type": "Probe", "inputs": {"value": ["1", 0]}}})
    problem = caught.value.node_errors["1"]["errors"][0]
    assert problem["type"] == "value_not_in_list" and kind in problem["details"]


def test_clip_loader_takes_the_optional_device_widget(env: ModelEnv, tiny: TinyStore) -> None:
    arch, prefix, name = CLIP_L_SD15
    env.place(tiny.part(arch, prefix, name), "clip", name)  # type: ignore[arg-type]
    node = clip_loader(name)
    node["inputs"]["device"] = "cpu"
    assert env.probe({"1": node}, "1").family == "sd1"


def test_a_transformers_bigg_file_opens_as_open_clip(tmp_path: Any) -> None:
    """ComfyUI's clip_g.safetensors layout: transformers keys plus text_projection."""
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import save_file

    from nodes.models.sources import open_model_file

    config = transformers.CLIPTextConfig(
        hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=1,
        hidden_act="gelu", projection_dim=64)
    torch.manual_seed(0)
    reference = transformers.CLIPTextModelWithProjection(config).eval()
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()},
              tmp_path / "clip_g.safetensors")
    opened = open_model_file(tmp_path / "clip_g.safetensors")
    assert (opened.component, opened.text_kind) == ("text", "open_clip")
    ids = torch.tensor([[49406, 320, 2368, 49407] + [0] * 73])
    with torch.no_grad():
        ours = opened.load("text")(ids, layer=-2, final_norm=False)
        theirs = reference(ids, output_hidden_states=True)
    assert torch.allclose(ours.hidden, theirs.hidden_states[-2], atol=1e-5)
    assert torch.allclose(ours.pooled, theirs.text_embeds, atol=1e-5)
