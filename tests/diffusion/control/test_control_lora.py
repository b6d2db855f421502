"""A Control-LoRA rebuilds its ControlNet from the sampled UNet: equal to a ControlNet merged by
hand (UNet weights, the file's full tensors, ``W + up @ down`` written as an einsum), and a file
missing tensors the ControlNet needs is refused naming them."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from diffusion.control import ControlNetConfig, ControlNetModel, build_control_lora
from diffusion.control.control_lora import load_control_lora
from diffusion.loading.errors import UnknownModelError
from diffusion.unet import UNetModel
from tests.diffusion.control.control_support import tiny_unet

RANK = 4
LOW_RANK = ("input_blocks.1.0.in_layers.2", "input_blocks.1.1.proj_in",
            "input_blocks.1.1.transformer_blocks.0.attn2.to_k", "middle_block.0.emb_layers.1",
            "input_blocks.4.1.transformer_blocks.0.ff.net.0.proj")
OWN_PREFIXES = ("input_hint_block.", "zero_convs.", "middle_block_out.")


def _control_lora_file(tmp_path, unet: UNetModel, *, drop: str | None = None):
    gen = torch.Generator().manual_seed(11)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in
                  ControlNetModel(ControlNetConfig(unet.config, 3)).state_dict().items()}
    tensors = {"lora_controlnet": torch.zeros(())}
    for key, shape in shapes.items():
        if key.startswith(OWN_PREFIXES) or key == "input_blocks.2.0.in_layers.0.weight":
            tensors[key] = torch.randn(shape, generator=gen) * 0.2
    for layer in LOW_RANK:
        shape = shapes[layer + ".weight"]
        tensors[layer + ".up"] = torch.randn(shape[0], RANK, *([1, 1] if len(shape) == 4 else []),
                                             generator=gen) * 0.3
        tensors[layer + ".down"] = torch.randn(RANK, *shape[1:], generator=gen) * 0.3
    if drop is not None:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(drop)}
    path = tmp_path / "control-lora-tiny.safetensors"
    save_file(tensors, str(path))
    return path, tensors


def _hand_merged(unet: UNetModel, tensors: dict[str, torch.Tensor]) -> ControlNetModel:
    reference = ControlNetModel(ControlNetConfig(unet.config, 3)).eval()
    unet_state = unet.state_dict()
    state = {}
    for key, value in reference.state_dict().items():
        state[key] = tensors[key] if key in tensors else unet_state.get(key, value)
    for layer in LOW_RANK:
        up, down = tensors[layer + ".up"], tensors[layer + ".down"]
        up2 = up.reshape(up.shape[0], RANK)
        delta = (torch.einsum("or,rikl->oikl", up2, down) if down.ndim == 4
                 else torch.einsum("or,ri->oi", up2, down))
        state[layer + ".weight"] = unet_state[layer + ".weight"] + delta
    reference.load_state_dict(state, strict=True)
    return reference


def test_control_lora_equals_hand_merged_controlnet(tmp_path, randomize, rel_err) -> None:
    unet = UNetModel(tiny_unet("sd1")).eval()
    randomize(unet, 3)
    path, tensors = _control_lora_file(tmp_path, unet)
    weights = load_control_lora(path)
    assert weights.rank == RANK and weights.hint_channels == 3
    built = build_control_lora(unet.config, unet.state_dict(), weights, dtype=torch.float32,
                               device=torch.device("cpu"))
    reference = _hand_merged(unet, tensors)
    gen = torch.Generator().manual_seed(1)
    x, hint = torch.randn(2, 4, 16, 16, generator=gen), torch.rand(2, 3, 128, 128, generator=gen)
    t, context = torch.tensor([500.0, 20.0]), torch.randn(2, 6, 24, generator=gen)
    with torch.no_grad():
        got, want = built(x, hint, t, context), reference(x, hint, t, context)
    assert want.middle.abs().max() > 0.1
    assert rel_err(got.middle, want.middle) <= 1e-5
    assert max(rel_err(a, b) for a, b in zip(got.skips, want.skips, strict=True)) <= 1e-5
    # untouched layers share the UNet's tensors instead of copying them
    shared = "input_blocks.1.0.in_layers.0.bias"
    assert built.state_dict()[shared].data_ptr() == unet.state_dict()[shared].data_ptr()


def test_truncated_control_lora_names_missing_keys(tmp_path, randomize) -> None:
    unet = UNetModel(tiny_unet("sd1")).eval()
    path, _ = _control_lora_file(tmp_path, unet, drop="zero_convs.3.")
    weights = load_control_lora(path)
    with pytest.raises(UnknownModelError, match=r"missing \(2\).*zero_convs\.3\.0\."):
        build_control_lora(unet.config, unet.state_dict(), weights, dtype=torch.float32,
                           device=torch.device("cpu"))


def test_control_lora_delta_without_down_half_is_refused(tmp_path) -> None:
    save_file({"lora_controlnet": torch.zeros(()), "input_blocks.1.0.in_layers.2.up":
               torch.zeros(8, 2, 1, 1)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(UnknownModelError, match="without their down half"):
        load_control_lora(tmp_path / "bad.safetensors")
