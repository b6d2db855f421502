"""GLIGENLoader and GLIGENTextBoxApply: boxes on the entries by hand, and two grounded boxes
sampled end to end with a tiny SD1.x checkpoint and a GLIGEN file made for its UNet; a GLIGEN
model whose gates are closed (alpha 0) gives the ungrounded image bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from diffusion.checkpoint_maker import checkpoint_layout
from diffusion.gligen import GligenModel, GligenPosition, config_for_unet
from diffusion.guidance.cond import Cond
from executor.jobs import JobRequest
from nodes.payloads import Latent
from tests.diffusion.conftest import randomize_parameters
from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader

PHRASE_WIDTH = 64  # the tiny CLIP-L's pooled width


def _gligen_file(folder: Path, name: str, *, gates_open: bool = True) -> None:
    unet = checkpoint_layout("sd15", tiny=True).unet
    model = GligenModel(config_for_unet(unet, 768, PHRASE_WIDTH))
    randomize_parameters(model, 21)
    state = model.state_dict()
    if not gates_open:
        for key in [k for k in state if k.endswith(("alpha_attn", "alpha_dense"))]:
            state[key] = torch.zeros(())
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in state.items()}, folder / name)


def _box(conditioning: list[Any], text: str, box: tuple[int, int, int, int]) -> dict[str, Any]:
    width, height, x, y = box
    return {"class_type": "GLIGENTextBoxApply", "inputs": {
        "conditioning_to": conditioning, "clip": ["1", 1], "gligen_textbox_model": ["g", 0],
        "text": text, "width": width, "height": height, "x": x, "y": y}}


def _workflow(gligen: str | None, boxes: tuple[tuple[int, int, int, int], ...] = (
        (32, 64, 0, 0), (32, 24, 32, 40))) -> dict[str, Any]:
    prompt: dict[str, Any] = {"1": loader("m.safetensors"), "2": encode("a park", ["1", 1]),
                              "3": encode("", ["1", 1])}
    positive: list[Any] = ["2", 0]
    if gligen is not None:
        prompt["g"] = {"class_type": "GLIGENLoader", "inputs": {"gligen_name": gligen}}
        prompt["b1"] = _box(positive, "a red dog", boxes[0])
        prompt["b2"] = _box(["b1", 0], "a blue ball", boxes[1])
        positive = ["b2", 0]
    prompt["9"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 5, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 1.0, "positive": positive, "negative": ["3", 0],
        "latent_image": ["L", 0]}}
    prompt["L"] = {"class_type": "EmptyLatentImage",
                   "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    return prompt


@pytest.fixture
def grounded_env(env: ModelEnv, tiny: TinyStore) -> ModelEnv:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    _gligen_file(env.base / "models" / "gligen", "g.safetensors")
    _gligen_file(env.base / "models" / "gligen", "closed.safetensors", gates_open=False)
    return env


def test_boxes_ride_on_every_entry(grounded_env: ModelEnv) -> None:
    conditioning: tuple[Cond, ...] = grounded_env.probe(_workflow("g.safetensors"), "b2")
    assert len(conditioning) == 1
    grounding = conditioning[0].gligen
    assert isinstance(grounding, GligenPosition)
    assert [b.as_tuple() for b in grounding.boxes] == [(8, 4, 0, 0), (3, 4, 5, 4)]  # h, w, y, x
    assert grounding.boxes[0].pooled.shape == (1, PHRASE_WIDTH)
    plain: tuple[Cond, ...] = grounded_env.probe(_workflow(None), "2")
    assert plain[0].gligen is None
    assert torch.equal(plain[0].cross_attn, conditioning[0].cross_attn)


def test_two_grounded_boxes_end_to_end(grounded_env: ModelEnv) -> None:
    grounded: Latent = grounded_env.probe(_workflow("g.safetensors"), "9")
    plain: Latent = grounded_env.probe(_workflow(None), "9")
    moved: Latent = grounded_env.probe(_workflow("g.safetensors", ((32, 64, 32, 0),
                                                                   (32, 24, 0, 40))), "9")
    assert grounded.samples.shape == (1, 4, 8, 8) and torch.isfinite(grounded.samples).all()
    assert (grounded.samples - plain.samples).abs().max() > 1e-3
    assert (grounded.samples - moved.samples).abs().max() > 1e-4  # where the boxes are matters
    image = grounded_env.probe({**_workflow("g.safetensors"), "d": {
        "class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["1", 2]}}}, "d")
    assert image.shape == (1, 64, 64, 3)


def test_closed_gates_give_the_ungrounded_image(grounded_env: ModelEnv) -> None:
    """Equal up to float rounding of the batch split: the grounded entry is evaluated in a
    forward of its own (as ComfyUI does), the plain one shares it with the negative. With the
    same split the two are equal bit for bit (tests/diffusion/gligen/test_gligen_guidance)."""
    closed: Latent = grounded_env.probe(_workflow("closed.safetensors"), "9")
    plain: Latent = grounded_env.probe(_workflow(None), "9")
    error = (closed.samples - plain.samples).abs().max() / plain.samples.abs().max()
    assert error <= 1e-5


def test_a_clip_without_clip_l_is_refused(grounded_env: ModelEnv, tiny: TinyStore) -> None:
    grounded_env.place(tiny.path("sd21"), "checkpoints", "sd2.safetensors")
    prompt = _workflow("g.safetensors")
    prompt["1"] = loader("sd2.safetensors")
    prompt["p"] = {"class_type": "Probe", "inputs": {"value": ["b1", 0]}}
    result = grounded_env.engine.execute(JobRequest("refuse", prompt))
    assert result.failure is not None
    assert "does not end with CLIP-L" in result.failure.message
