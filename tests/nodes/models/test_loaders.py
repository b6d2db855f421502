"""Loaders through the real Engine on tiny checkpoints: payloads per arch, caching by
(path, size, mtime), and weights read only when a consumer runs."""

from __future__ import annotations

import os
from typing import Any

import pytest

from diffusion.latent_format import SD15, SDXL
from diffusion.memory import ModelManager
from diffusion.patching import PatchSet
from executor.errors import PromptError
from executor.jobs import JobRequest
from executor.plan import Reason
from nodes.models import local_ports
from nodes.models.sources import open_model_file
from nodes.payloads import Clip, DiffusionModel, Vae
from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader

# arch: (family, prediction, in_channels, latent format, adm, text encoders)
ARCHS: dict[str, tuple[str, str, int, Any, str, tuple[str, ...]]] = {
    "sd15": ("sd1", "eps", 4, SD15, "none", ("clip_l",)),
    "sd15-inpaint": ("sd1", "eps", 9, SD15, "none", ("clip_l",)),
    "sd21": ("sd2", "eps", 4, SD15, "none", ("clip_h",)),
    "sd21-v": ("sd2", "v_prediction", 4, SD15, "none", ("clip_h",)),
    "sd2-inpaint": ("sd2", "eps", 9, SD15, "none", ("clip_h",)),
    "sdxl": ("sdxl", "eps", 4, SDXL, "sdxl", ("clip_l", "clip_g")),
    "sdxl-refiner": ("sdxl_refiner", "eps", 4, SDXL, "sdxl_refiner", ("clip_g",)),
}


def outputs(env: ModelEnv, name: str) -> tuple[DiffusionModel, Clip, Vae]:
    prompt = {"1": loader(name)}
    return tuple(env.probe(prompt, "1", slot) for slot in range(3))  # type: ignore[return-value]


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_checkpoint_payloads_match_the_file(env: ModelEnv, tiny: TinyStore, arch: str) -> None:
    family, prediction, channels, fmt, adm, encoders = ARCHS[arch]
    env.place(tiny.path(arch), "checkpoints", f"sub/{arch}.safetensors")  # type: ignore[arg-type]
    model, clip, vae = outputs(env, f"sub/{arch}.safetensors")
    assert (model.family, model.model_sampling.prediction) == (family, prediction)
    assert (model.in_channels, model.latent_format, model.adm) == (channels, fmt, adm)
    assert model.model_sampling.zsnr is False and model.patches == PatchSet.EMPTY
    assert model.nbytes == 0
    assert clip.family == family and clip.names() == encoders and clip.stop_at_layer is None
    assert clip.embedding_folders == (env.base / "models" / "embeddings",)
    assert vae.family == family and vae.nbytes == 0
    assert env.manager.loads == 0  # handles only: no weights were read


def test_resubmit_is_a_cache_hit_that_opens_no_file(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    prompt = {"1": loader("m.safetensors"), "p": {"class_type": "Probe",
                                                 "inputs": {"value": ["1", 0]}}}
    first = env.run(prompt)
    assert first.reasons["1"] == Reason.NEW and len(env.opens) == 1
    second = env.run(prompt)
    assert second.reasons["1"] == Reason.CACHED and "1" in second.cached
    assert len(env.opens) == 1


def test_a_changed_mtime_reruns_the_loader(env: ModelEnv, tiny: TinyStore) -> None:
    path = env.place(tiny.path("sd15"), "checkpoints", "m.safetensors", copy=True)
    prompt = {"1": loader("m.safetensors"), "p": {"class_type": "Probe",
                                                 "inputs": {"value": ["1", 0]}}}
    env.run(prompt)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    result = env.run(prompt)
    assert result.reasons["1"] == Reason.FINGERPRINT_CHANGED
    assert len(env.opens) == 2


def test_weights_are_read_only_when_a_consumer_runs(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sdxl"), "checkpoints", "xl.safetensors")
    base = {"1": loader("xl.safetensors")}
    env.probe(base, "1", 1)
    assert env.manager.loads == 0
    env.probe({**base, "2": encode("a cat", ["1", 1])}, "2")
    assert env.manager.loads == 2  # clip_l and clip_g, nothing else
    latent = {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                           "batch_size": 1}}
    decode = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["1", 2]}}
    env.probe({**base, "3": latent, "4": decode}, "4")
    assert env.manager.loads == 3
    assert sorted(c for _, c, _ in env.manager.resident()) == ["clip_g", "clip_l", "vae"]


def test_vae_loader_reads_standalone_and_checkpoint_vaes(env: ModelEnv, tiny: TinyStore) -> None:
    bare = tiny.part("sd15", "first_stage_model.", "vae-bare.safetensors")
    env.place(bare, "vae", "bare.safetensors")
    env.place(tiny.path("sdxl"), "vae", "from-ckpt.safetensors")
    vae = env.probe({"1": {"class_type": "VAELoader", "inputs": {"vae_name": "bare.safetensors"}}},
                    "1")
    assert isinstance(vae, Vae) and vae.family is None and vae.handle.component == "vae"
    xl = env.probe({"1": {"class_type": "VAELoader",
                          "inputs": {"vae_name": "from-ckpt.safetensors"}}}, "1")
    assert xl.family == "sdxl"
    assert env.manager.loads == 0


def test_unet_loader_and_the_zsnr_marker(env: ModelEnv, tiny: TinyStore) -> None:
    import torch

    marked = tiny.part("sd21-v", "", "sd21-v-ztsnr.safetensors", keep_prefix=True,
                       extra={"ztsnr": torch.zeros(0)})
    env.place(marked, "unet", "v.safetensors")
    node = {"class_type": "UNETLoader", "inputs": {"unet_name": "v.safetensors",
                                                   "weight_dtype": "default"}}
    model = env.probe({"1": node}, "1")
    assert model.model_sampling.prediction == "v_prediction" and model.model_sampling.zsnr
    assert model.family == "sd2"
    fp8 = {"class_type": "UNETLoader", "inputs": {"unet_name": "v.safetensors",
                                                  "weight_dtype": "fp8_e4m3fn"}}
    with pytest.raises(PromptError):
        env.run({"1": fp8, "p": {"class_type": "Probe", "inputs": {"value": ["1", 0]}}})


def test_a_bare_unet_of_unpublished_widths_is_refused_with_its_widths(tiny: TinyStore) -> None:
    from diffusion.loading import UnknownModelError

    bare = tiny.part("sd15", "model.diffusion_model.", "unet-bare.safetensors")
    with pytest.raises(UnknownModelError, match="context width 64"):
        open_model_file(bare)


def test_model_sampling_discrete_overrides_and_leaves_the_input(
        env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    patch = {"class_type": "ModelSamplingDiscrete",
             "inputs": {"model": ["1", 0], "sampling": "v_prediction", "zsnr": True}}
    original = env.probe({"1": loader("m.safetensors")}, "1")
    patched = env.probe({"1": loader("m.safetensors"), "2": patch}, "2")
    assert (patched.model_sampling.prediction, patched.model_sampling.zsnr) == ("v_prediction",
                                                                                True)
    assert float(patched.model_sampling.sigma_max) > 4000  # zero-terminal-SNR schedule
    assert patched.unet is original.unet and patched.family == "sd1"
    assert (original.model_sampling.prediction, original.model_sampling.zsnr) == ("eps", False)
    edm = {**patch, "inputs": {**patch["inputs"], "sampling": "edm"}}  # continuous only
    with pytest.raises(PromptError) as caught:
        env.run({"1": loader("m.safetensors"), "2": edm,
                 "p": {"class_type": "Probe", "inputs": {"value": ["2", 0]}}})
    assert caught.value.node_errors["2"]["errors"][0]["type"] == "value_not_in_list"


def test_a_checkpoint_without_vae_blocks_its_vae_output(env: ModelEnv, tiny: TinyStore) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(tiny.path("sd15"))
    no_vae = env.base / "models" / "checkpoints" / "novae.safetensors"
    no_vae.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v for k, v in tensors.items() if not k.startswith("first_stage_model.")},
              no_vae)
    assert isinstance(env.probe({"1": loader("novae.safetensors")}, "1", 0), DiffusionModel)
    latent = {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    decode = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["1", 2]}}
    result = env.engine.execute(JobRequest("novae", {
        "1": loader("novae.safetensors"), "2": decode, "3": latent,
        "p": {"class_type": "Probe", "inputs": {"value": ["2", 0]}}}))
    assert not result.ok and result.failure is not None
    assert "has no VAE; load one with VAELoader" in result.failure.message
    assert result.failure.node_id == "2"


def test_local_ports_wire_the_manager_folders_and_tokenizer(env: ModelEnv) -> None:
    ports = local_ports(env.model_folders, device="cpu", budget_bytes=1 << 20)
    assert isinstance(ports.models, ModelManager)
    assert ports.models.budget_bytes == 1 << 20
    assert ports.model_files is env.model_folders
    assert ports.text.clip_tokenizer().builds == 0  # type: ignore[attr-defined]  # built on first use, not at startup
