"""CheckpointLoader (checkpoint + LDM config: v-prediction, CLIP layer, upcast attention) and
DiffusersLoader (a pipeline folder from models/diffusers), through the engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion.checkpoint_maker import checkpoint_layout
from diffusion.loading.detect import TEXT_SLOTS, UNET_PREFIX, VAE_PREFIX
from diffusion.loading.diffusers_keys import key_map, unet_prefixes, vae_prefixes
from executor.errors import PromptError
from nodes.api import SchemaContext
from nodes.models.ldm_config import ConfigError, LdmConfig, parse_ldm_config
from nodes.models.legacy_loaders import DiffusersFolders, Fp32Attention
from nodes.payloads import Clip, DiffusionModel, Vae
from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader

V_CONFIG = """
model:
  base_learning_rate: 1.0e-4
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    parameterization: "v"
    scale_factor: 0.18215
    unet_config:
      params:
        upcast_attention: true
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
      params:
        layer_idx: -2
"""
PLAIN_CONFIG = "model:\n  params:\n    cond_stage_config:\n      target: x\n"


def node(class_type: str, **inputs: object) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def with_config(env: ModelEnv, tiny: TinyStore, config: str) -> dict[str, Any]:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    (env.base / "models" / "configs").mkdir(parents=True, exist_ok=True)
    (env.base / "models" / "configs" / "c.yaml").write_text(config)
    (env.base / "models" / "configs" / "notes.txt").write_text("not listed")
    return {"1": node("CheckpointLoader", config_name="c.yaml", ckpt_name="m.safetensors"),
            "2": loader("m.safetensors")}


def test_the_config_overrides_detection(env: ModelEnv, tiny: TinyStore) -> None:
    prompt = with_config(env, tiny, V_CONFIG)
    assert env.model_folders.files("configs") == ["c.yaml"]
    model: DiffusionModel = env.probe(prompt, "1", 0)
    simple: DiffusionModel = env.probe(prompt, "2", 0)
    assert simple.model_sampling.prediction == "eps"
    assert model.model_sampling.prediction == "v_prediction"
    assert model.hooks.attention == (Fp32Attention(),) and not simple.hooks
    clip: Clip = env.probe(prompt, "1", 1)
    assert clip.stop_at_layer == -2 and isinstance(env.probe(prompt, "1", 2), Vae)
    assert model.unet.key == simple.unet.key  # the same weights


def test_a_plain_config_loads_as_the_simple_loader(env: ModelEnv, tiny: TinyStore) -> None:
    prompt = with_config(env, tiny, PLAIN_CONFIG)
    model, simple = env.probe(prompt, "1", 0), env.probe(prompt, "2", 0)
    assert model.model_sampling == simple.model_sampling and not model.hooks
    assert env.probe(prompt, "1", 1).stop_at_layer is None


def test_sampling_a_v_config_model(env: ModelEnv, tiny: TinyStore) -> None:
    prompt = with_config(env, tiny, V_CONFIG)

    def sample(model: list[object]) -> torch.Tensor:
        steps = {"3": encode("a dog", ["1", 1]), "4": encode("", ["1", 1]),
                 "5": node("EmptyLatentImage", width=64, height=64, batch_size=1),
                 "6": node("KSampler", model=model, seed=2, steps=2, cfg=3.0,
                           sampler_name="euler", scheduler="normal", positive=["3", 0],
                           negative=["4", 0], latent_image=["5", 0], denoise=1.0)}
        return env.probe({**prompt, **steps}, "6").samples

    v, eps = sample(["1", 0]), sample(["2", 0])
    assert torch.isfinite(v).all() and not torch.allclose(v, eps)


def test_config_errors_name_the_file() -> None:
    assert parse_ldm_config({"model": {"params": {}}}, "c.yaml") == LdmConfig()
    with pytest.raises(ConfigError, match="c.yaml: not an LDM config"):
        parse_ldm_config({"other": 1}, "c.yaml")
    with pytest.raises(ConfigError, match="layer_idx 3 is not a CLIP layer"):
        parse_ldm_config({"model": {"params": {"cond_stage_config": {
            "params": {"layer_idx": 3}}}}}, "c.yaml")


def test_fp32_attention_upcasts_half_inputs() -> None:
    q = torch.randn((1, 2, 4), generator=torch.Generator().manual_seed(0)).half()
    seen: list[torch.dtype] = []

    def attend(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        seen.append(a.dtype)
        return a

    out = Fp32Attention()(q, q, q, None, attend)  # type: ignore[arg-type]
    assert seen == [torch.float32] and out.dtype == torch.float16 and torch.equal(out, q)


def write_sd1_pipeline(checkpoint: Path, folder: Path) -> None:
    """A diffusers folder of a tiny SD1.5 checkpoint, through our own key maps."""
    layout = checkpoint_layout("sd15", tiny=True)
    tensors = load_file(str(checkpoint))

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    def save(name: str, file: str, weights: dict[str, torch.Tensor]) -> None:
        (folder / name).mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in weights.items()}, str(folder / name / file))

    unet, vae = part(UNET_PREFIX), part(VAE_PREFIX)
    to_unet = key_map(list(unet), unet_prefixes(layout.unet))
    to_vae = key_map(list(vae), vae_prefixes(layout.vae))
    save("unet", "diffusion_pytorch_model.safetensors", {to_unet[k]: v for k, v in unet.items()})
    save("vae", "diffusion_pytorch_model.safetensors", {to_vae[k]: v for k, v in vae.items()})
    save("text_encoder", "model.safetensors", part(TEXT_SLOTS["sd1"][0].prefix))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusion"}))


def test_diffusers_loader_lists_and_loads_pipeline_folders(env: ModelEnv,
                                                           tiny: TinyStore) -> None:
    root = env.base / "models" / "diffusers"
    write_sd1_pipeline(tiny.path("sd15"), root / "sd" / "tiny")
    (root / "not-a-pipeline").mkdir()
    schema = SchemaContext(model_files=env.model_folders)
    assert DiffusersFolders()(schema) == ["sd/tiny"]
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    prompt = {"1": node("DiffusersLoader", model_path="sd/tiny"), "2": loader("m.safetensors"),
              "3": encode("a cat", ["1", 1]), "4": encode("a cat", ["2", 1])}
    model: DiffusionModel = env.probe(prompt, "1", 0)
    assert model.family == "sd1" and model.in_channels == 4
    assert torch.equal(env.probe(prompt, "3")[0].cross_attn, env.probe(prompt, "4")[0].cross_attn)
    with pytest.raises(PromptError, match="'not-a-pipeline' not in \\['sd/tiny'\\]"):
        env.probe({"1": node("DiffusersLoader", model_path="not-a-pipeline")}, "1")
