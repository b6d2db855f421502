"""IP-Adapter workflows end to end on tiny random models (SD1.5-tiny, 64x64, two steps):
IPAdapterAdvanced with a mask, two adapters at once, the unified loader with the plugin's file
names, the encoder / embeds path; weight 0 (and an all-ones mask) give the unadapted image bit
for bit. The adapter is opened by the model manager and resident only while projecting."""

from __future__ import annotations

from typing import Any

import torch

from executor.jobs import JobRequest
from nodes.payloads import DiffusionModel
from tests.nodes.models.support import ModelEnv, TinyStore
from tests.nodes.vision.tiny_files import (
    node,
    text_to_image,
    write_clip_vision,
    write_images,
    write_ipadapter,
)


def _setup(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    models = env.base / "models"
    write_clip_vision(models / "clip_vision" / "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")
    write_ipadapter(models / "ipadapter" / "ip-adapter-plus_sd15.bin", "plus")
    write_ipadapter(models / "ipadapter" / "ip-adapter_sd15.safetensors", "base", seed=5)
    write_ipadapter(models / "ipadapter" / "ip-adapter_sdxl_vit-h.safetensors", "base",
                    arch="sdxl")
    write_images(env.folders.input)


def _advanced(model: list[Any], adapter: str, weight: float, mask: list[Any] | None,
              image: str = "i", **extra: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "model": model, "ipadapter": [adapter, 0], "image": [image, 0], "weight": weight,
        "weight_type": "linear", "combine_embeds": "concat", "start_at": 0.0, "end_at": 1.0,
        "embeds_scaling": "V only", "clip_vision": ["v", 0], **extra}
    if mask is not None:
        inputs["attn_mask"] = mask
    return {"class_type": "IPAdapterAdvanced", "inputs": inputs}


def _prompt(weight: float | None, mask: str | None = None, second: float | None = None
            ) -> dict[str, Any]:
    prompt: dict[str, Any] = {
        "c": node("CheckpointLoaderSimple", ckpt_name="m.safetensors"),
        "v": node("CLIPVisionLoader", clip_name="CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"),
        "a": node("IPAdapterModelLoader", ipadapter_file="ip-adapter-plus_sd15.bin"),
        "b": node("IPAdapterModelLoader", ipadapter_file="ip-adapter_sd15.safetensors"),
        "i": node("LoadImage", image="photo.png"),
        "h": node("LoadImage", image="half.png"),
        "ones": node("SolidMask", value=1.0, width=64, height=64),
    }
    model: list[Any] = ["c", 0]
    if weight is not None:
        masks = {None: None, "half": ["h", 1], "ones": ["ones", 0]}
        prompt["p"] = _advanced(model, "a", weight, masks[mask])
        model = ["p", 0]
    if second is not None:
        prompt["q"] = _advanced(model, "b", second, None, embeds_scaling="K+V")
        model = ["q", 0]
    return {**prompt, **text_to_image(model, ["c", 1], ["c", 2])}


def test_ipadapter_with_a_mask(env: ModelEnv, tiny: TinyStore) -> None:
    _setup(env, tiny)
    baseline = env.probe(_prompt(None), "d")
    full = env.probe(_prompt(1.0), "d")
    half = env.probe(_prompt(1.0, "half"), "d")
    assert (full - baseline).abs().max() > 1e-3
    assert (half - full).abs().max() > 1e-4 and (half - baseline).abs().max() > 1e-4
    assert torch.equal(env.probe(_prompt(1.0, "ones"), "d"), full)
    assert torch.equal(env.probe(_prompt(0.0, "half"), "d"), baseline)
    # the adapter's weights were read once and are not pinned after the runs
    entries = {e.component: e for e in env.manager.resident_entries()}
    assert "ipadapter" in entries and "clip_vision" in entries
    assert sum(path.name == "ip-adapter-plus_sd15.bin" for path in env.opens) == 1
    patched: DiffusionModel = env.probe(_prompt(1.0), "p")
    plain: DiffusionModel = env.probe(_prompt(None), "c")
    assert len(patched.hooks.attention) == 1 and not plain.hooks.attention  # input unchanged


def test_two_adapters_at_once(env: ModelEnv, tiny: TinyStore) -> None:
    _setup(env, tiny)
    first = env.probe(_prompt(1.0), "d")
    both = env.probe(_prompt(1.0, second=0.8), "d")
    assert (both - first).abs().max() > 1e-4
    assert torch.equal(env.probe(_prompt(1.0, second=0.0), "d"), first)
    model: DiffusionModel = env.probe(_prompt(1.0, second=0.8), "q")
    assert len(model.hooks.attention) == 2


def _unified(weight_type: str) -> dict[str, Any]:
    prompt = {
        "c": node("CheckpointLoaderSimple", ckpt_name="m.safetensors"),
        "u": node("IPAdapterUnifiedLoader", model=["c", 0], preset="PLUS (high strength)"),
        "i": node("LoadImage", image="photo.png"),
        "p": node("IPAdapter", model=["u", 0], ipadapter=["u", 1], image=["i", 0], weight=0.9,
                  start_at=0.0, end_at=1.0, weight_type=weight_type),
    }
    return {**prompt, **text_to_image(["p", 0], ["c", 1], ["c", 2])}


def test_unified_loader_picks_the_plugins_files(env: ModelEnv, tiny: TinyStore) -> None:
    _setup(env, tiny)
    job = env.run({**_unified("standard"), "x": node("Probe", value=["d", 0])})
    assert job.ok
    advanced = _prompt(0.9)
    simple = env.probe(_unified("standard"), "d")
    assert torch.equal(simple, env.probe(advanced, "d"))  # same files, same semantics
    assert not torch.equal(env.probe(_unified("prompt is more important"), "d"), simple)


def test_encoder_and_embeds_equal_the_advanced_node(env: ModelEnv, tiny: TinyStore) -> None:
    _setup(env, tiny)
    prompt = _prompt(None)
    prompt["e"] = node("IPAdapterEncoder", ipadapter=["a", 0], image=["i", 0], weight=1.0,
                       clip_vision=["v", 0])
    prompt["p"] = node("IPAdapterEmbeds", model=["c", 0], ipadapter=["a", 0],
                       pos_embed=["e", 0], neg_embed=["e", 1], weight=1.0,
                       weight_type="linear", start_at=0.0, end_at=1.0,
                       embeds_scaling="V only")
    prompt["s"]["inputs"]["model"] = ["p", 0]
    assert torch.equal(env.probe(prompt, "d"), env.probe(_prompt(1.0), "d"))


def test_wrong_family_adapter_names_both(env: ModelEnv, tiny: TinyStore) -> None:
    _setup(env, tiny)
    prompt = _prompt(1.0)
    prompt["a"]["inputs"]["ipadapter_file"] = "ip-adapter_sdxl_vit-h.safetensors"
    result = env.engine.execute(JobRequest("family", {**prompt,
                                                      "x": node("Probe", value=["p", 0])}))
    assert not result.ok
    message = str(result.failure)
    assert "base IP-Adapter for unknown (128-wide tokens" in message
    assert "the model is 64-wide context" in message
