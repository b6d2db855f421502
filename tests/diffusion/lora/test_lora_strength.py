"""Strength 0, negative strength, and stacking LoRA files in order."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from diffusion.patching import PatchSet, patched_copy, patched_weights
from diffusion.patching.lora import (
    LoraMapping,
    TargetModel,
    lora_from_state_dict,
    lora_patches,
    parameter_shapes,
    unet_target,
)
from tests.diffusion.conftest import randomize_parameters
from tests.diffusion.lora import _lora_testlib as lib


def _net() -> nn.Module:
    net = nn.Sequential(nn.Linear(6, 8), nn.Linear(8, 5))
    randomize_parameters(net, 1)
    return net


def _lora(seed: int, *, ia3: bool) -> dict[str, Tensor]:
    """A LoRA on layer 0, and on layer 1 either a LoRA or an (order-sensitive) IA3."""
    gen = torch.Generator().manual_seed(seed)
    state = {
        "0.lora_down.weight": torch.randn(2, 6, generator=gen),
        "0.lora_up.weight": torch.randn(8, 2, generator=gen),
    }
    if ia3:
        state["1.weight"] = 0.5 * torch.randn(8, generator=gen)  # scales input columns
        state["1.on_input"] = torch.tensor(1)
    else:
        state["1.lora_down.weight"] = torch.randn(2, 8, generator=gen)
        state["1.lora_up.weight"] = torch.randn(5, 2, generator=gen)
    return state


def _map(net: nn.Module, state: dict[str, Tensor], strength: float) -> LoraMapping:
    target = TargetModel("unet", parameter_shapes(net))
    return lora_patches(lora_from_state_dict(state), {"unet": target}, {"unet": strength})


def test_strength_zero_gives_no_patches_and_the_base_model() -> None:
    cfg = lib.sd1_config()
    ours, ref = lib.unet_pair(cfg)
    modules = lib.linear_and_conv_names(ref)
    state = lib.build_lora(
        modules, lib.kohya("lora_unet_"), ("lora_down.weight", "lora_up.weight"), rank=2, seed=1
    )
    mapping = lora_patches(lora_from_state_dict(state), {"unet": unet_target(cfg)}, {"unet": 0.0})
    assert mapping.patches == {"unet": ()} and mapping.mapped == len(state)
    patch_set = mapping.patch_set("unet")
    assert patch_set == PatchSet.EMPTY and patch_set.digest == ""
    patched = patched_copy(ours, patch_set).module
    got, _ = lib.unet_outputs(patched, ref, cfg)
    base, _ = lib.unet_outputs(ours, ref, cfg)
    assert torch.equal(got, base)


def test_negative_strength_inverts_the_change() -> None:
    net = _net()
    state = _lora(2, ia3=False)
    plus = patched_weights(net, _map(net, state, 1.0).patch_set("unet"))["0.weight"]
    minus = patched_weights(net, _map(net, state, -1.0).patch_set("unet"))["0.weight"]
    base = net[0].weight.detach()
    torch.testing.assert_close(minus - base, -(plus - base), rtol=0, atol=1e-6)
    assert (plus - base).abs().max() > 0.1


def _sequential(net: nn.Module, first: LoraMapping, second: LoraMapping) -> dict[str, Tensor]:
    """Apply ``first`` to a copy, then ``second`` to that copy's weights."""
    once = patched_copy(net, first.patch_set("unet")).module
    return patched_weights(once, second.patch_set("unet"))


def test_stacking_two_files_composes_in_order() -> None:
    net = _net()
    a, b = _map(net, _lora(3, ia3=False), 0.8), _map(net, _lora(4, ia3=True), -0.6)
    a_then_b = b.patch_set("unet", base=a.patch_set("unet"))
    b_then_a = a.patch_set("unet", base=b.patch_set("unet"))
    assert len(a_then_b) == 4 and a_then_b.digest != b_then_a.digest
    stacked = patched_weights(net, a_then_b)
    sequential = _sequential(net, a, b)
    for key in ("0.weight", "1.weight"):
        torch.testing.assert_close(stacked[key], sequential[key], rtol=0, atol=1e-6)
    reverse = patched_weights(net, b_then_a)
    assert (reverse["1.weight"] - stacked["1.weight"]).abs().max() > 1e-2  # IA3 after a LoRA
