"""Saving nodes on tiny checkpoints: CheckpointSave reloads through CheckpointLoaderSimple
bit-identically (weights, family, sampling), plain and merged, SD1.5 and SDXL; ComfyUI's marker
keys and metadata; ModelSave / CLIPSave / VAESave files read by our loaders; names and
containment as SaveImage's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from diffusion.checkpoint_maker import Arch
from diffusion.loading import load_unet
from nodes.api.paths import PathRefusedError
from nodes.models.clip_nodes import ModelSamplingDiscrete
from nodes.models.merging import CLIPMergeSimple, ModelMergeSimple
from nodes.models.saving import CheckpointSave, CLIPSave, ModelSave, VAESave
from nodes.payloads import Clip
from tests.nodes.models.merge_helpers import (
    Loaded,
    ctx,
    identical,
    load,
    model_weights,
    reload,
    weights,
)
from tests.nodes.models.support import ModelEnv, TinyStore

PROMPT = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x"}}}
WORKFLOW = {"workflow": {"nodes": [{"id": 1}], "version": 0.4}, "note": "é"}


def _saved(env: ModelEnv, context: object) -> list[Path]:
    return [env.folders.output / name for name in context.notes["saved"]]  # type: ignore[attr-defined]


def _clip_weights(env: ModelEnv, clip: Clip) -> dict[str, dict[str, object]]:
    return {e.name: weights(env, e.handle, e.patches) for e in clip.encoders}


def _assert_same_checkpoint(env: ModelEnv, saved: Loaded, reloaded: Loaded) -> None:
    assert identical(model_weights(env, reloaded.model), model_weights(env, saved.model))
    assert identical(weights(env, reloaded.vae.handle), weights(env, saved.vae.handle))
    ours, theirs = _clip_weights(env, saved.clip), _clip_weights(env, reloaded.clip)
    assert ours.keys() == theirs.keys()
    assert all(identical(ours[n], theirs[n]) for n in ours)  # type: ignore[arg-type]
    for field in ("family", "model_sampling", "latent_format", "in_channels"):
        assert getattr(reloaded.model, field) == getattr(saved.model, field), field
    assert reloaded.clip.family == saved.clip.family
    assert reloaded.clip.names() == saved.clip.names()
    assert [(e.layer, e.final_norm, e.pad) for e in reloaded.clip.encoders] == [
        (e.layer, e.final_norm, e.pad) for e in saved.clip.encoders]


def _round_trip(env: ModelEnv, what: Loaded, name: str) -> Loaded:
    context = ctx(env, prompt=PROMPT, extra_pnginfo=WORKFLOW)
    CheckpointSave().run(context, what.model, what.clip, what.vae, f"checkpoints/{name}")
    (path,) = _saved(env, context)
    assert path.name == f"{name}_00001_.safetensors"
    env.place(path, "checkpoints", path.name)
    return reload(env, path.name)


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_checkpoint_save_reloads_bit_identically(env: ModelEnv, tiny: TinyStore,
                                                 arch: Arch) -> None:
    plain = load(env, tiny, arch)
    _assert_same_checkpoint(env, plain, _round_trip(env, plain, f"{arch}-plain"))
    other = load(env, tiny, arch, seed=8)
    merged = Loaded(ModelMergeSimple().run(ctx(env), plain.model, other.model, 0.4)[0],
                    CLIPMergeSimple().run(ctx(env), plain.clip, other.clip, 0.6)[0], plain.vae)
    reloaded = _round_trip(env, merged, f"{arch}-merged")
    _assert_same_checkpoint(env, merged, reloaded)
    assert not reloaded.model.patches  # the merge is in the weights now
    assert not identical(model_weights(env, reloaded.model), model_weights(env, plain.model))


def test_checkpoint_metadata_and_markers_are_comfyuis(env: ModelEnv, tiny: TinyStore) -> None:
    base = load(env, tiny, "sdxl")
    vpred = ModelSamplingDiscrete().run(ctx(env), base.model, "v_prediction", True)[0]
    context = ctx(env, prompt=PROMPT, extra_pnginfo=WORKFLOW)
    CheckpointSave().run(context, vpred, base.clip, base.vae, "checkpoints/vp")
    (path,) = _saved(env, context)
    with safe_open(str(path), "pt") as fh:
        metadata, keys = fh.metadata(), set(fh.keys())
        markers = {k: fh.get_tensor(k) for k in ("v_pred", "ztsnr")}
    assert all(t.shape == (0,) for t in markers.values())
    assert {k for k in keys if "." not in k} == {"v_pred", "ztsnr"}
    assert json.loads(metadata["prompt"]) == PROMPT
    assert json.loads(metadata["workflow"]) == WORKFLOW["workflow"]
    assert metadata["note"] == json.dumps("é")
    assert metadata["modelspec.predict_key"] == "v"
    assert metadata["modelspec.architecture"] == "stable-diffusion-xl-v1-base"
    assert metadata["modelspec.title"] == "vp 1"
    env.place(path, "checkpoints", path.name)
    sampling = reload(env, path.name).model.model_sampling
    assert (sampling.prediction, sampling.zsnr) == ("v_prediction", True)


def test_names_count_up_and_a_prefix_leaving_the_output_folder_is_refused(
        env: ModelEnv, tiny: TinyStore) -> None:
    base = load(env, tiny, "sd15")
    context = ctx(env)
    for _ in range(2):
        VAESave().run(context, base.vae, "vae/two")
    assert sorted(p.name for p in (env.folders.output / "vae").iterdir()) == [
        "two_00001_.safetensors", "two_00002_.safetensors"]
    for prefix in ("../x", "/abs/x", "vae/../../x"):
        with pytest.raises(PathRefusedError, match="VAESave input 'filename_prefix'"):
            VAESave().run(context, base.vae, prefix)
    assert not (env.base / "x_00001_.safetensors").exists()


def test_a_refused_prefix_fails_the_job_with_the_node_named(env: ModelEnv,
                                                            tiny: TinyStore) -> None:
    load(env, tiny, "sd15")
    prompt = {"1": {"class_type": "CheckpointLoaderSimple",
                    "inputs": {"ckpt_name": "sd15.safetensors"}},
              "2": {"class_type": "ModelSave",
                    "inputs": {"model": ["1", 0], "filename_prefix": "../escape"}}}
    from executor.jobs import JobRequest
    result = env.engine.execute(JobRequest("refused", prompt))
    assert not result.ok
    assert "ModelSave input 'filename_prefix'" in str(result.failure)
    assert "'..'" in str(result.failure)


def test_model_save_is_read_by_the_unet_loader(env: ModelEnv, tiny: TinyStore) -> None:
    """UNETLoader tells a UNet's family from its widths, which tiny UNets do not have, so the
    file is read with the family named (``load_unet``); the layout and markers are the same."""
    base, other = load(env, tiny, "sd21-v"), load(env, tiny, "sd21-v", seed=8)
    zsnr = ModelSamplingDiscrete().run(ctx(env), base.model, "v_prediction", True)[0]
    merged = ModelMergeSimple().run(ctx(env), zsnr, other.model, 0.5)[0]
    context = ctx(env)
    ModelSave().run(context, merged, "diffusion_models/unet")
    (path,) = _saved(env, context)
    assert path.parent == env.folders.output / "diffusion_models"
    unet, family, prediction = load_unet(path, family="sd2")
    assert identical(unet.state_dict(), model_weights(env, merged))
    assert (family, prediction) == ("sd2", "v")
    with safe_open(str(path), "pt") as fh:
        assert {k for k in fh.keys() if "." not in k} == {"v_pred", "ztsnr"}
        assert all(k.startswith("model.diffusion_model.") for k in fh.keys() if "." in k)


@pytest.mark.parametrize("arch", ["sd15", "sd21", "sdxl"])
def test_clip_save_writes_one_file_per_encoder_read_by_the_clip_loaders(
        env: ModelEnv, tiny: TinyStore, arch: Arch) -> None:
    base = load(env, tiny, arch)
    context = ctx(env, prompt=PROMPT)
    CLIPSave().run(context, base.clip, "clip/te")
    paths = _saved(env, context)
    assert [p.name for p in paths] == [f"te_{n}_00001_.safetensors" for n in base.clip.names()]
    with safe_open(str(paths[-1]), "pt") as fh:
        assert fh.metadata()["format"] == "pt"
        assert any(k.startswith("text_model.encoder.layers.0.") for k in fh.keys())
    names = [env.place(p, "text_encoders", p.name).name for p in paths]
    if len(names) == 1:
        node = {"class_type": "CLIPLoader",
                "inputs": {"clip_name": names[0], "type": "stable_diffusion"}}
    else:
        node = {"class_type": "DualCLIPLoader",
                "inputs": {"clip_name1": names[1], "clip_name2": names[0], "type": "sdxl"}}
    clip = env.probe({"1": node}, "1")
    assert clip.names() == base.clip.names() and clip.family == base.clip.family
    ours, theirs = _clip_weights(env, base.clip), _clip_weights(env, clip)
    for name in ours:
        keep = {k: v for k, v in ours[name].items() if k != "logit_scale"}  # not saved
        got = {k: v for k, v in theirs[name].items() if k != "logit_scale"}
        assert identical(keep, got), name  # type: ignore[arg-type]


def test_vae_save_is_read_by_vae_loader(env: ModelEnv, tiny: TinyStore) -> None:
    base = load(env, tiny, "sd15")
    context = ctx(env, prompt=PROMPT, extra_pnginfo=WORKFLOW)
    VAESave().run(context, base.vae, "vae/ComfyUI_vae")
    (path,) = _saved(env, context)
    with safe_open(str(path), "pt") as fh:
        assert "encoder.conv_in.weight" in set(fh.keys())
        assert set(fh.metadata()) == {"prompt", "workflow", "note"}
    env.place(path, "vae", path.name)
    vae = env.probe({"1": {"class_type": "VAELoader", "inputs": {"vae_name": path.name}}}, "1")
    assert identical(weights(env, vae.handle), weights(env, base.vae.handle))


def test_checkpoint_save_refuses_a_clip_of_another_family(env: ModelEnv,
                                                          tiny: TinyStore) -> None:
    sd15, sdxl = load(env, tiny, "sd15"), load(env, tiny, "sdxl")
    with pytest.raises(ValueError, match="the model is sd1 but the clip is sdxl"):
        CheckpointSave().run(ctx(env), sd15.model, sdxl.clip, sd15.vae, "checkpoints/x")
    assert not (env.folders.output / "checkpoints").exists()
