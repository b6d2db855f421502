"""A1111 hypernetworks as an attention input patch: the patched UNet equals one whose ``to_k`` /
``to_v`` inputs are rewritten by hand (forward pre-hooks), for self- and cross-attention widths;
strength 0 and unknown widths pass through; unsafe files are refused."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from diffusion.hypernetwork import HypernetworkPatch, load_hypernetwork, parse_hypernetwork
from diffusion.unet import UNetModel
from diffusion.unet.attention import AttentionHooks
from tests.diffusion.guidance._guidance_testlib import tiny_unet

CONTEXT = 24  # tiny_config("sd1").context_dim
WIDTHS = (16, CONTEXT)  # a self-attention width of the tiny UNet, and the cross-attention one


def _network(width: int, seed: int, norm: bool) -> dict[str, Tensor]:
    """A1111's layout for layer_structure [1, 2, 1]: linear.0, (norm linear.1), linear.2/3."""
    gen = torch.Generator().manual_seed(seed)
    hidden = 2 * width
    state = {"linear.0.weight": torch.randn(hidden, width, generator=gen) * 0.1,
             "linear.0.bias": torch.randn(hidden, generator=gen) * 0.1}
    last = 3 if norm else 2
    if norm:
        state["linear.2.weight"] = 1 + torch.randn(hidden, generator=gen) * 0.1
        state["linear.2.bias"] = torch.randn(hidden, generator=gen) * 0.1
    state[f"linear.{last}.weight"] = torch.randn(width, hidden, generator=gen) * 0.1
    state[f"linear.{last}.bias"] = torch.randn(width, generator=gen) * 0.1
    return state


def hypernetwork_file(norm: bool = False, activation: str = "relu",
                      widths: tuple[int, ...] = WIDTHS) -> dict[Any, Any]:
    data: dict[Any, Any] = {w: [_network(w, 2 * w, norm), _network(w, 2 * w + 1, norm)]
                            for w in widths}
    data.update(name="test", layer_structure=[1, 2, 1], activation_func=activation,
                is_layer_norm=norm, activate_output=False, use_dropout=False)
    return data


def _by_hand(state: dict[str, Tensor], x: Tensor, activation: nn.Module, norm: bool) -> Tensor:
    h = torch.nn.functional.linear(x, state["linear.0.weight"], state["linear.0.bias"])
    h = activation(h)
    last = 2
    if norm:
        h = torch.nn.functional.layer_norm(h, h.shape[-1:], state["linear.2.weight"],
                                           state["linear.2.bias"])
        last = 3
    return torch.nn.functional.linear(h, state[f"linear.{last}.weight"],
                                      state[f"linear.{last}.bias"])


def _hand_patched(unet: UNetModel, data: dict[Any, Any], strength: float, norm: bool) -> None:
    """Pre-hooks on every to_k / to_v that rewrite their input like the hypernetwork does."""
    for name, module in unet.named_modules():
        if not name.endswith(("to_k", "to_v")):
            continue
        slot = 0 if name.endswith("to_k") else 1

        def hook(_m: nn.Module, args: tuple[Tensor, ...], slot: int = slot) -> tuple[Tensor]:
            (context,) = args
            state = data.get(context.shape[-1])
            if state is None:
                return (context,)
            return (context + _by_hand(state[slot], context, nn.ReLU(), norm) * strength,)

        module.register_forward_pre_hook(hook)


def _run(unet: UNetModel, attention: AttentionHooks | None = None) -> Tensor:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 8, 8, generator=gen)
    context = torch.randn(2, 5, CONTEXT, generator=gen)
    with torch.no_grad():
        return unet(x, torch.tensor([10.0, 500.0]), context, attention=attention)


@pytest.mark.parametrize("norm", [False, True])
def test_the_patch_rewrites_k_and_v_contexts_like_a1111(norm: bool) -> None:
    data = hypernetwork_file(norm)
    patch = HypernetworkPatch(parse_hypernetwork(data), 0.7)
    patched = _run(tiny_unet(), AttentionHooks(input_patches=(patch,)))
    reference = tiny_unet()
    _hand_patched(reference, data, 0.7, norm)
    expected = _run(reference)
    assert torch.allclose(patched, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(patched, _run(tiny_unet()), atol=1e-4)


def test_strength_zero_and_unknown_widths_pass_through() -> None:
    plain = _run(tiny_unet())
    zero = HypernetworkPatch(parse_hypernetwork(hypernetwork_file()), 0.0)
    assert torch.equal(_run(tiny_unet(), AttentionHooks(input_patches=(zero,))), plain)
    other = {k: v for k, v in hypernetwork_file().items() if not isinstance(k, int)}
    other[999] = hypernetwork_file()[CONTEXT]
    unknown = HypernetworkPatch(parse_hypernetwork(other), 1.0)
    assert torch.equal(_run(tiny_unet(), AttentionHooks(input_patches=(unknown,))), plain)


def test_files_load_safely(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    torch.save(hypernetwork_file(), path)
    assert load_hypernetwork(path).widths() == sorted(WIDTHS)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as out:
        pickle.dump({"x": pickle.loads}, out, protocol=2)  # needs full unpickling
    with pytest.raises(ValueError, match="cannot be read safely"):
        load_hypernetwork(evil)
    with pytest.raises(ValueError, match="activation_func 'gelu2'"):
        parse_hypernetwork({**hypernetwork_file(), "activation_func": "gelu2"})
    with pytest.raises(ValueError, match="no networks"):
        parse_hypernetwork({"name": "empty"})
