"""PhotoMakerLoader and PhotoMakerEncode end to end: a tiny SDXL checkpoint and a tiny
``photomaker-v1.bin``-style ID encoder (128-wide IDs for the tiny SDXL's 128-wide context).

With the trigger word as its own group the encoding equals CLIPTextEncode of the prompt without
it except at the class token; without the trigger word it is CLIPTextEncode bit for bit, and so
is the sampled latent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.guidance.cond import Cond
from diffusion.photomaker import PhotoMakerConfig, PhotoMakerIDEncoder
from diffusion.vision import VisionConfig
from executor.jobs import JobRequest
from nodes.payloads import Latent
from tests.diffusion.conftest import randomize_parameters
from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader

TINY = PhotoMakerConfig(VisionConfig(width=64, mlp_width=128, heads=1, layers=2,
                                     image_size=28, patch_size=14, projection_dim=64), 64)


def _photomaker_file(folder: Path) -> None:
    model = PhotoMakerIDEncoder(TINY)
    randomize_parameters(model, 41)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() for k, v in model.state_dict().items()}
    torch.save({"id_encoder": state, "lora_weights": {}}, folder / "pm.bin")


@pytest.fixture
def pm_env(env: ModelEnv, tiny: TinyStore) -> ModelEnv:
    env.place(tiny.path("sdxl"), "checkpoints", "xl.safetensors")
    _photomaker_file(env.base / "models" / "photomaker")
    ys, xs = np.mgrid[0:40, 0:32]
    face = np.stack([xs * 6, ys * 5, (xs + ys) * 3], axis=-1).astype(np.uint8)
    Image.fromarray(face).save(env.folders.input / "face.png")
    return env


def _photomaker(text: str) -> dict[str, Any]:
    return {"1": loader("xl.safetensors"),
            "pm": {"class_type": "PhotoMakerLoader",
                   "inputs": {"photomaker_model_name": "pm.bin"}},
            "img": {"class_type": "LoadImage", "inputs": {"image": "face.png"}},
            "e": {"class_type": "PhotoMakerEncode", "inputs": {
                "photomaker": ["pm", 0], "image": ["img", 0], "clip": ["1", 1], "text": text}}}


def _sample(positive: list[Any]) -> dict[str, Any]:
    return {
        "n": encode("", ["1", 1]),
        "L": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "k": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": 9, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0, "positive": positive, "negative": ["n", 0],
            "latent_image": ["L", 0]}}}


def test_the_id_is_fused_into_the_class_token(pm_env: ModelEnv) -> None:
    fused: tuple[Cond, ...] = pm_env.probe(_photomaker("(man:1.1) photomaker"), "e")
    plain: tuple[Cond, ...] = pm_env.probe({"1": loader("xl.safetensors"),
                                            "t": encode("(man:1.1)", ["1", 1])}, "t")
    assert len(fused) == 1 and fused[0].cross_attn.shape == (1, 77, 128)
    changed = (fused[0].cross_attn - plain[0].cross_attn).abs().amax(dim=-1)[0]
    assert changed.nonzero().flatten().tolist() == [1]  # the "man" token only
    assert torch.equal(fused[0].pooled_output, plain[0].pooled_output)


def test_photomaker_sampling_end_to_end(pm_env: ModelEnv) -> None:
    prompt = _photomaker("(man:1.1) photomaker")
    with_id: Latent = pm_env.probe({**prompt, **_sample(["e", 0])}, "k")
    prompt["t"] = encode("(man:1.1)", ["1", 1])
    without: Latent = pm_env.probe({**prompt, **_sample(["t", 0])}, "k")
    assert with_id.samples.shape == (1, 4, 8, 8) and torch.isfinite(with_id.samples).all()
    assert (with_id.samples - without.samples).abs().max() > 1e-4


def test_without_trigger_word_it_is_plain_text_encoding_bit_for_bit(pm_env: ModelEnv) -> None:
    prompt = _photomaker("a photo of a man")
    prompt["t"] = encode("a photo of a man", ["1", 1])
    photomaker: tuple[Cond, ...] = pm_env.probe(prompt, "e")
    plain: tuple[Cond, ...] = pm_env.probe(prompt, "t")
    assert torch.equal(photomaker[0].cross_attn, plain[0].cross_attn)
    sampled_pm: Latent = pm_env.probe({**prompt, **_sample(["e", 0])}, "k")
    sampled_plain: Latent = pm_env.probe({**prompt, **_sample(["t", 0])}, "k")
    assert torch.equal(sampled_pm.samples, sampled_plain.samples)


def test_a_clip_of_another_width_is_refused(pm_env: ModelEnv, tiny: TinyStore) -> None:
    pm_env.place(tiny.path("sd15"), "checkpoints", "sd15.safetensors")
    prompt = _photomaker("(man:1.1) photomaker")
    prompt["1"] = loader("sd15.safetensors")
    prompt["p"] = {"class_type": "Probe", "inputs": {"value": ["e", 0]}}
    result = pm_env.engine.execute(JobRequest("refuse", prompt))
    assert result.failure is not None
    assert "PhotoMaker fuses 128-wide text embeddings" in result.failure.message
