"""ControlNets and T2I-Adapters end to end on tiny models, through the engine the CLI builds.

* Two ControlNets chained (one in the original layout, one in diffusers' layout), each with its
  own part of the schedule: the image changes; strength 0 on both gives the unadapted latent bit
  for bit; a second ControlNet whose window holds no step gives exactly the first one's result.
* A T2I depth adapter (1-channel hint, diffusers layout) on an SD1-shaped tiny model: the image
  changes; strength 0 gives the unadapted latent bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from diffusion.checkpoint_maker import checkpoint_layout
from diffusion.control import ControlNetConfig, ControlNetModel
from diffusion.loading.checkpoint import build_modules
from diffusion.unet import UNetConfig
from executor.jobs import JobRequest
from nodes.payloads import Latent
from tests.workflows.support import Workspace, cached_output

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint  # noqa: E402

SAMPLER = "3"


def _save_controlnet(path: Path, unet: UNetConfig, seed: int, *, diffusers_layout: bool) -> None:
    torch.manual_seed(seed)
    net = ControlNetModel(ControlNetConfig(unet))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # nonzero zero-convolutions
    state = {"control_model." + k: v.contiguous() for k, v in net.state_dict().items()}
    if diffusers_layout:
        state = convert_controlnet_checkpoint(state, {"layers_per_block": unet.num_res_blocks[0]})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def _prompt(controls: list[dict[str, Any]], ckpt: str = "sd15.safetensors") -> dict[str, Any]:
    prompt: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                           "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "10": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "11": {"class_type": "Canny", "inputs": {"image": ["10", 0], "low_threshold": 0.1,
                                                 "high_threshold": 0.3}},
    }
    positive, negative = ["6", 0], ["7", 0]
    for i, control in enumerate(controls):
        loader, apply = str(20 + 2 * i), str(21 + 2 * i)
        prompt[loader] = {"class_type": "ControlNetLoader",
                          "inputs": {"control_net_name": control["file"]}}
        prompt[apply] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": positive, "negative": negative, "control_net": [loader, 0],
            "image": control.get("image", ["11", 0]), "strength": control["strength"],
            "start_percent": control["start"], "end_percent": control["end"]}}
        positive, negative = [apply, 0], [apply, 1]
    prompt[SAMPLER] = {"class_type": "KSampler", "inputs": {
        "model": ["4", 0], "seed": 7, "steps": 4, "cfg": 5.0, "sampler_name": "euler",
        "scheduler": "normal", "positive": positive, "negative": negative,
        "latent_image": ["5", 0], "denoise": 1.0}}
    return prompt


def _sampled(engine: Any, prompt: dict[str, Any], job: str) -> torch.Tensor:
    result = engine.execute(JobRequest(job, prompt, (SAMPLER,)))
    assert result.ok, result.failure
    latent: Latent = cached_output(engine, prompt, SAMPLER)
    return latent.samples


@pytest.fixture
def control_workspace(workspace: Workspace) -> Workspace:
    unet = checkpoint_layout("sd15", tiny=True).unet
    folder = workspace.base / "models" / "controlnet"
    _save_controlnet(folder / "cn_original.safetensors", unet, 1, diffusers_layout=False)
    _save_controlnet(folder / "cn_diffusers.safetensors", unet, 2, diffusers_layout=True)
    return workspace


def test_chained_controlnets_with_windows(control_workspace: Workspace) -> None:
    engine = control_workspace.engine()
    plain = _sampled(engine, _prompt([]), "plain")
    first = {"file": "cn_original.safetensors", "strength": 0.9, "start": 0.0, "end": 0.6}
    second = {"file": "cn_diffusers.safetensors", "strength": 1.3, "start": 0.3, "end": 1.0,
              "image": ["10", 0]}
    chained = _sampled(engine, _prompt([first, second]), "chained")
    only_first = _sampled(engine, _prompt([first]), "first")
    assert (chained - plain).abs().max() > 1e-3
    assert (chained - only_first).abs().max() > 1e-3
    off = [{**first, "strength": 0.0}, {**second, "strength": 0.0}]
    assert torch.equal(_sampled(engine, _prompt(off), "off"), plain)
    never = {**second, "start": 1.0, "end": 1.0}  # a window holding no step
    assert torch.equal(_sampled(engine, _prompt([first, never]), "never"), only_first)
    late = _sampled(engine, _prompt([first, {**second, "start": 0.7}]), "late")
    assert not torch.equal(late, chained)


def _four_level_checkpoint(path: Path) -> UNetConfig:
    layout = checkpoint_layout("sd15", tiny=True)
    unet = UNetConfig(
        in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2, 4, 4),
        num_res_blocks=(2, 2, 2, 2), transformer_depth=(1, 1, 1, 1, 1, 1, 0, 0),
        transformer_depth_output=(0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        transformer_depth_middle=1, context_dim=layout.unet.context_dim, num_heads=8)
    layout = type(layout)(layout.family, unet, layout.vae, layout.text)
    torch.manual_seed(5)
    state = {prefix + k: v.contiguous() for prefix, module in build_modules(layout).items()
             for k, v in module.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return unet


def test_t2i_depth_adapter(workspace: Workspace) -> None:
    models = workspace.base / "models"
    unet = _four_level_checkpoint(models / "checkpoints" / "sd15_4level.safetensors")
    torch.manual_seed(6)
    adapter = diffusers.T2IAdapter(in_channels=1, channels=[32, 64, 128, 128], num_res_blocks=2,
                                   downscale_factor=8, adapter_type="full_adapter")
    assert unet.model_channels == 32
    (models / "t2i_adapter").mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in adapter.state_dict().items()},
              str(models / "t2i_adapter" / "t2iadapter_depth_tiny.safetensors"))
    engine = workspace.engine()
    ckpt = "sd15_4level.safetensors"
    depth = {"file": "t2iadapter_depth_tiny.safetensors", "strength": 1.0, "start": 0.0,
             "end": 1.0, "image": ["10", 0]}
    plain = _sampled(engine, _prompt([], ckpt), "plain")
    adapted = _sampled(engine, _prompt([depth], ckpt), "depth")
    assert (adapted - plain).abs().max() > 1e-3
    off = _sampled(engine, _prompt([{**depth, "strength": 0.0}], ckpt), "off")
    assert torch.equal(off, plain)
    half = _sampled(engine, _prompt([{**depth, "end": 0.5}], ckpt), "half")
    assert not torch.equal(half, adapted) and not torch.equal(half, plain)
