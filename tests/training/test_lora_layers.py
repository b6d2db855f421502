"""The LoRA trainer's adapters: zero at the start, and its kohya export loaded by the engine's
LoRA code (``diffusion.patching.lora``) gives the same network at every strength."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from diffusion.patching import patched_copy
from diffusion.patching.lora import load_lora_file, lora_patches, unet_target
from diffusion.unet.config import sd1_config
from diffusion.unet.model import UNetModel
from training.lora_layers import (
    KOHYA_PREFIX,
    LoraLayer,
    add_lora,
    kohya_state,
    lora_parameters,
    set_strength,
)

TINY = sd1_config().replace(
    model_channels=32, channel_mult=(1, 2), num_res_blocks=(1, 1), transformer_depth=(0, 1),
    transformer_depth_output=(1, 1, 0, 0), transformer_depth_middle=1, context_dim=32,
)


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return (torch.randn(2, 4, 8, 8, generator=gen), torch.tensor([10.0, 700.0]),
            torch.randn(2, 5, 32, generator=gen))


def _trained_copy(rank: int = 4) -> tuple[UNetModel, UNetModel, dict[str, LoraLayer]]:
    torch.manual_seed(0)
    base = UNetModel(TINY).eval()
    wrapped = copy.deepcopy(base)
    layers = add_lora(wrapped, rank)
    with torch.no_grad():
        for p in lora_parameters(layers):
            p.normal_(0.0, 0.05)  # as if trained
    return base, wrapped, layers


def test_adapters_start_at_zero_and_only_they_train() -> None:
    torch.manual_seed(0)
    base = UNetModel(TINY).eval()
    wrapped = copy.deepcopy(base)
    layers = add_lora(wrapped, 4)
    x, t, ctx = _inputs()
    assert torch.equal(wrapped(x, t, ctx), base(x, t, ctx))
    trainable = {id(p) for p in wrapped.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in lora_parameters(layers)}
    bases = [layer.base for layer in layers.values()]
    assert all(isinstance(b, nn.Linear | nn.Conv2d) for b in bases)  # FastConv2d is a Conv2d
    assert any(isinstance(b, nn.Linear) for b in bases) and any(isinstance(b, nn.Conv2d)
                                                                  for b in bases)
    assert any(name.endswith("in_layers.2") for name in layers)
    assert any(name.endswith("attn2.to_k") for name in layers)


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_kohya_export_through_the_engines_lora_code_matches(tmp_path: Path,
                                                             strength: float) -> None:
    base, wrapped, layers = _trained_copy()
    path = tmp_path / "style.safetensors"
    save_file(kohya_state(wrapped, layers, torch.float32), str(path))
    state = load_lora_file(path)
    assert all(k.startswith(KOHYA_PREFIX) for k in state.tensors)
    assert any("_down_blocks_1_attentions_0_" in k for k in state.tensors)  # diffusers names
    mapping = lora_patches(state, {"unet": unet_target(TINY)}, {"unet": strength})
    assert mapping.unmapped == () and mapping.mapped == 3 * len(layers)
    patched = patched_copy(base, mapping.patch_set("unet")).module
    set_strength(layers, strength)
    x, t, ctx = _inputs()
    expected = wrapped(x, t, ctx)
    assert not torch.allclose(expected, base(x, t, ctx), atol=1e-3)
    torch.testing.assert_close(patched(x, t, ctx), expected, atol=2e-5, rtol=1e-4)


def test_fp16_export_and_no_targets_is_an_error() -> None:
    _, wrapped, layers = _trained_copy(rank=2)
    state = kohya_state(wrapped, layers)
    assert {v.dtype for v in state.values()} == {torch.float16}
    assert all(v.shape[0] == 2 for k, v in state.items() if k.endswith("lora_down.weight"))
    with pytest.raises(ValueError, match="no attention"):
        add_lora(nn.Sequential(nn.ReLU()), 2)  # type: ignore[arg-type]
