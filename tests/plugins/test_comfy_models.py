"""MODEL, CLIP and VAE reach ComfyUI packs as ComfyUI's objects wired to our engine: a pack
sampling with ``comfy.sample.sample`` on the MODEL it received gets exactly KSampler's latent,
its ``set_model_*`` patches run as our hooks, and ``CLIP`` / ``VAE`` calls compute what the
built-in nodes compute (tiny random SD1.x weights)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from nodes.plugins.host import uninstall
from tests.plugins.support import PluginEnv, load_env
from tests.workflows.support import TinyCheckpoints, cached_output, link_or_copy

CKPT = "sd15.safetensors"


@pytest.fixture(scope="module")
def sd_env(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoints: TinyCheckpoints
           ) -> Iterator[PluginEnv]:
    """One engine for the module: the tiny model is read once."""
    base = tmp_path_factory.mktemp("comfy-models")
    link_or_copy(tiny_checkpoints.path("sd15"), base / "models" / "checkpoints" / CKPT)
    yield load_env(base, ["SamplerPack"])
    uninstall()


def graph(sampler: dict[str, Any]) -> dict[str, Any]:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red circle",
                                                         "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32,
                                                           "batch_size": 2}},
        "5": sampler,
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
    }


def ksampler() -> dict[str, Any]:
    return {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 7, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
        "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
        "latent_image": ["4", 0], "denoise": 1.0}}


def pack_sampler(hook: bool) -> dict[str, Any]:
    return {"class_type": "PackSampler", "inputs": {
        "model": ["1", 0], "seed": 7, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
        "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
        "latent": ["4", 0], "hook": hook}}


def latent_of(env: PluginEnv, prompt: dict[str, Any]) -> torch.Tensor:
    result = env.run(prompt, targets=("5",))
    assert result.ok, result.failure
    return cached_output(env.engine, prompt, "5").samples  # type: ignore[no-any-return]


def test_a_pack_sampling_the_model_it_received_matches_ksampler(sd_env: PluginEnv) -> None:
    ours = latent_of(sd_env, graph(ksampler()))
    theirs = latent_of(sd_env, graph(pack_sampler(False)))
    assert theirs.shape == (2, 4, 4, 4)
    torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


def test_a_post_cfg_function_set_on_a_clone_runs_as_our_hook(sd_env: PluginEnv) -> None:
    calls = sys.modules["SamplerPack"].HOOK_CALLS
    calls.clear()
    plain = latent_of(sd_env, graph(pack_sampler(False)))
    assert calls == []
    hooked = latent_of(sd_env, graph(pack_sampler(True)))
    assert len(calls) == 2 and calls[0] > calls[-1] > 0  # one per step, sigma falling
    torch.testing.assert_close(hooked, plain)  # the hook returns the prediction unchanged


def test_clip_and_vae_objects_compute_what_the_builtin_nodes_do(sd_env: PluginEnv) -> None:
    from nodes.plugins.adapter.payloads import to_comfy
    from nodes.plugins.runtime import ActiveNode, running

    prompt = graph(ksampler())
    prompt["7"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}}
    assert sd_env.run(prompt, targets=("7", "2")).ok
    model, clip, vae = (cached_output(sd_env.engine, prompt, "1", i) for i in range(3))
    cond = cached_output(sd_env.engine, prompt, "2")[0]
    latent = cached_output(sd_env.engine, prompt, "5")
    image = cached_output(sd_env.engine, prompt, "7")
    ctx = _context(sd_env)
    with running(ActiveNode(ctx, "test")):
        comfy_clip, comfy_vae = to_comfy(clip), to_comfy(vae)
        tokens = comfy_clip.tokenize("a red circle")
        assert list(tokens) == ["l"] and tokens["l"][0][0][0] == 49406
        encoded, pooled = comfy_clip.encode_from_tokens(tokens, return_pooled=True)
        scheduled = comfy_clip.encode_from_tokens_scheduled(tokens)
        decoded = comfy_vae.decode(latent.samples)
        encoded_back = comfy_vae.encode(decoded)
    torch.testing.assert_close(encoded, cond.cross_attn)
    torch.testing.assert_close(pooled, cond.pooled_output)
    torch.testing.assert_close(scheduled[0][0], cond.cross_attn)
    torch.testing.assert_close(decoded, image)
    assert encoded_back.shape == latent.samples.shape
    assert to_comfy(model).get_model_object("model_sampling") is model.model_sampling


def _context(env: PluginEnv) -> Any:
    import threading

    from executor.context import NodeRunContext
    from executor.events import CollectingSink

    ports = env.engine.ports
    return NodeRunContext("t", "job", {}, {}, env.engine.folders, ports.models,
                          ports.model_files, ports.text, env.registry.samplers,
                          __import__("logging").getLogger("t"), threading.Event(),
                          CollectingSink())


def test_add_patches_become_weight_patches_of_the_model(sd_env: PluginEnv) -> None:
    from nodes.plugins.adapter.payloads import from_comfy, to_comfy

    prompt = graph(ksampler())
    assert sd_env.run(prompt, targets=("1",)).ok
    model = cached_output(sd_env.engine, prompt, "1", 0)
    patcher = to_comfy(model).clone()
    with model.unet.use() as unet:
        shape = unet.state_dict()["out.2.weight"].shape
        base = unet.state_dict()["out.2.weight"].clone()
    diff = torch.full(shape, 0.5)
    assert patcher.add_patches({"diffusion_model.out.2.weight": diff}, 2.0) == [
        "diffusion_model.out.2.weight"]
    assert patcher.add_patches({"cond_stage_model.x": diff}) == []  # not a UNet weight
    patched = from_comfy(patcher, "MODEL", "test")
    assert patched is not model and len(patched.patches) == len(model.patches) + 1
    assert from_comfy(to_comfy(model).clone(), "MODEL", "test") is model  # nothing changed
    with patched.unet.use(patched.patches) as unet:
        weight = unet.state_dict()["out.2.weight"]
    # the file's fp16 weights may be kept as stored on CPU; patched ones are in the compute
    # dtype, float32 (what patching a float32 copy of the model gives)
    assert weight.dtype == torch.float32
    torch.testing.assert_close(weight, base.float() + 1.0)
