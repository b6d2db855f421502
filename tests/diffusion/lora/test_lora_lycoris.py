"""LoHa, LoKr, IA3 and DoRA merged weights against PEFT's implementations (small Linear + Conv2d).

PEFT's state-dict names for LoHa / LoKr (``hada_w1_a`` ..., ``lokr_w1`` ...) are LyCORIS' file
names; its ``alpha`` lives in the config, so the file gets it as an ``.alpha`` tensor. Where the
LyCORIS file convention differs from PEFT, the test says so and uses a hand-written formula:

* LoKr with both Kronecker factors full: LyCORIS (and ComfyUI) ignore alpha, PEFT scales by
  alpha / r; files follow LyCORIS.
* IA3: LyCORIS stores ``w`` with ``W' = W ⊙ (1 + w)``, PEFT stores ``l = 1 + w``; PEFT's merge
  also scales an output-side layer's bias, LyCORIS' merged weight does not (biases untouched).
* DoRA: PEFT normalises per output row (``lora_magnitude_vector``); LyCORIS' ``dora_scale`` of
  shape ``(1, in, ...)`` per input column: checked against the formula from LyCORIS' module.
* LoCon's tucker ``lora_mid`` has no PEFT counterpart: checked against running the three
  convolutions it stands for.
Tolerance: max|Δ| / max|W| <= 1e-5 (all float32).
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.patching import PatchSet, patched_weights
from diffusion.patching.lora import TargetModel, lora_from_state_dict, lora_patches
from diffusion.patching.lora import parameter_shapes as shapes_of
from tests.diffusion.conftest import randomize_parameters, relative_error

peft = pytest.importorskip("peft")

ADAPTER_TAGS = ("hada_", "lokr_", "lora_A", "lora_B", "ia3_l")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(48, 64)
        self.conv = nn.Conv2d(32, 48, 3)


def _net() -> Net:
    net = Net()
    randomize_parameters(net, 3)
    return net


def _peft(config, seed: int = 4) -> tuple[Net, dict[str, Tensor], dict[str, Tensor]]:
    """(base net, PEFT's merged weights, PEFT's saved state dict) with random adapters."""
    base = _net()
    model = peft.get_peft_model(copy.deepcopy(base), config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if "lora_magnitude_vector" in name:
                param.copy_(param * (1 + 0.3 * noise))
            elif any(tag in name for tag in ADAPTER_TAGS):
                param.copy_(0.3 * noise)
    state = peft.get_peft_model_state_dict(model)
    merged = model.merge_and_unload().state_dict()
    return base, merged, state


def _ours(base: Net, state: dict[str, Tensor], metadata=None, strength=1.0) -> dict[str, Tensor]:
    lora = lora_from_state_dict(state, metadata)
    mapping = lora_patches(lora, {"net": TargetModel("net", shapes_of(base))}, {"net": strength})
    assert mapping.unmapped == () and mapping.mapped == len(state)
    return patched_weights(base, PatchSet(mapping.patches["net"]))


def _with_alpha(state: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    stems = {k.rsplit(".", 1)[0] for k in state}
    return state | {f"{stem}.alpha": torch.tensor(alpha) for stem in stems}


def _assert_weights(ours: dict[str, Tensor], want: dict[str, Tensor], base: Net) -> None:
    assert set(ours) == {"lin.weight", "conv.weight"}
    for key, value in ours.items():
        assert (want[key] - base.state_dict()[key]).abs().max() > 1e-2, key  # a real change
        assert relative_error(value, want[key]) <= 1e-5, key


@pytest.mark.parametrize("tucker", [False, True])
def test_loha_matches_peft(tucker) -> None:
    config = peft.LoHaConfig(
        r=2, alpha=5, target_modules=["lin", "conv"], use_effective_conv2d=tucker
    )
    base, merged, state = _peft(config)
    assert ("base_model.model.conv.hada_t1" in state) == tucker
    _assert_weights(_ours(base, _with_alpha(state, 5.0)), merged, base)


@pytest.mark.parametrize("tucker", [False, True])
def test_factorised_lokr_matches_peft(tucker) -> None:
    config = peft.LoKrConfig(
        r=2,
        alpha=5,
        target_modules=["lin", "conv"],
        decompose_both=True,
        use_effective_conv2d=tucker,
    )
    base, merged, state = _peft(config)
    assert "base_model.model.lin.lokr_w1_a" in state and "base_model.model.lin.lokr_w2_a" in state
    assert ("base_model.model.conv.lokr_t2" in state) == tucker
    _assert_weights(_ours(base, _with_alpha(state, 5.0)), merged, base)


def test_full_lokr_ignores_alpha_as_lycoris_does() -> None:
    """Both factors full (rank too large to factorise): ΔW = w1 ⊗ w2, alpha ignored (LyCORIS);
    PEFT would scale by alpha / r, so it is compared with alpha == r and by hand otherwise."""
    config = peft.LoKrConfig(r=16, alpha=16, target_modules=["lin", "conv"])
    base, merged, state = _peft(config)
    assert "base_model.model.lin.lokr_w1" in state and "base_model.model.lin.lokr_w2" in state
    ours = _ours(base, _with_alpha(state, 3.0))  # alpha 3 != r: ignored
    _assert_weights(ours, merged, base)
    w1, w2 = state["base_model.model.lin.lokr_w1"], state["base_model.model.lin.lokr_w2"]
    by_hand = base.lin.weight.detach() + torch.kron(w1, w2)
    assert relative_error(ours["lin.weight"], by_hand) <= 1e-6


def test_ia3_matches_peft_on_weights() -> None:
    config = peft.IA3Config(target_modules=["lin", "conv"], feedforward_modules=["lin"])
    base, merged, state = _peft(config)
    file = {}
    for stem, on_input in (("base_model.model.lin", 1), ("base_model.model.conv", 0)):
        vector = state[f"{stem}.ia3_l"]
        file[f"{stem}.weight"] = (vector - 1).flatten() if on_input else vector - 1
        file[f"{stem}.on_input"] = torch.tensor(on_input)
    _assert_weights(_ours(base, file), merged, base)


def test_dora_matches_peft_as_magnitude_vector_and_as_output_dora_scale() -> None:
    config = peft.LoraConfig(r=2, lora_alpha=5, target_modules=["lin", "conv"], use_dora=True)
    base, merged, state = _peft(config)
    metadata = {"lora_adapter_metadata": json.dumps({"r": 2, "lora_alpha": 5})}
    _assert_weights(_ours(base, state, metadata), merged, base)
    kohya = {}  # the same adapters as a kohya file with an output-shaped dora_scale
    for stem in ("lin", "conv"):
        peft_stem = f"base_model.model.{stem}"
        kohya[f"{stem}.lora_down.weight"] = state[f"{peft_stem}.lora_A.weight"]
        kohya[f"{stem}.lora_up.weight"] = state[f"{peft_stem}.lora_B.weight"]
        kohya[f"{stem}.alpha"] = torch.tensor(5.0)
        magnitude = state[f"{peft_stem}.lora_magnitude_vector"]
        kohya[f"{stem}.dora_scale"] = magnitude.reshape(-1, *[1] * (magnitude.ndim - 1))
    _assert_weights(_ours(base, kohya), merged, base)


def _input_axis_dora(weight: Tensor, delta: Tensor, scale: Tensor) -> Tensor:
    """LyCORIS ``apply_weight_decompose``: norms per input channel (over output and kernel)."""
    merged = weight + delta
    norm = merged.transpose(0, 1).reshape(merged.shape[1], -1).norm(dim=1)  # (in,)
    norm = norm.reshape(1, -1, *[1] * (merged.ndim - 2)) + torch.finfo(torch.float32).eps
    return merged * (scale / norm)


def test_lycoris_input_axis_dora_scale_on_lora_and_loha() -> None:
    base = _net()
    gen = torch.Generator().manual_seed(9)
    w = base.conv.weight.detach()  # (48, 32, 3, 3)
    down = torch.randn(4, 32, 3, 3, generator=gen)
    up = 0.1 * torch.randn(48, 4, 1, 1, generator=gen)
    column_norms = w.transpose(0, 1).flatten(1).norm(dim=1).reshape(1, 32, 1, 1)
    scale = (1 + 0.2 * torch.rand(1, 32, 1, 1, generator=gen)) * column_norms
    state = {
        "conv.lora_down.weight": down,
        "conv.lora_up.weight": up,
        "conv.alpha": torch.tensor(2.0),
        "conv.dora_scale": scale,
    }
    delta = 0.5 * (up.flatten(1) @ down.flatten(1)).reshape(w.shape)
    want = _input_axis_dora(w, delta, scale)
    assert relative_error(_ours(base, state)["conv.weight"], want) <= 1e-6
    w1a, w1b = torch.randn(64, 2, generator=gen), torch.randn(2, 48, generator=gen)
    w2a, w2b = torch.randn(64, 2, generator=gen), torch.randn(2, 48, generator=gen)
    lin_scale = 1 + torch.rand(1, 48, generator=gen)
    state = {
        "lin.hada_w1_a": w1a,
        "lin.hada_w1_b": w1b,
        "lin.hada_w2_a": w2a,
        "lin.hada_w2_b": w2b,
        "lin.dora_scale": lin_scale,
    }
    want = _input_axis_dora(base.lin.weight.detach(), (w1a @ w1b) * (w2a @ w2b), lin_scale)
    assert relative_error(_ours(base, state)["lin.weight"], want) <= 1e-6


def test_dora_strength_interpolates_from_base_to_dora_weight() -> None:
    config = peft.LoraConfig(r=2, lora_alpha=2, target_modules=["lin"], use_dora=True)
    base, merged, state = _peft(config)
    half = _ours(base, state, strength=0.5)["lin.weight"]
    want = 0.5 * (base.lin.weight.detach() + merged["lin.weight"])
    assert relative_error(half, want) <= 1e-6


def test_locon_tucker_mid_equals_the_three_convolutions() -> None:
    base = _net()
    gen = torch.Generator().manual_seed(10)
    down = torch.randn(3, 32, 1, 1, generator=gen) / 6
    mid = torch.randn(3, 3, 3, 3, generator=gen) / 3
    up = torch.randn(48, 3, 1, 1, generator=gen) / 2
    state = {
        "conv.lora_down.weight": down,
        "conv.lora_mid.weight": mid,
        "conv.lora_up.weight": up,
        "conv.alpha": torch.tensor(1.5),
    }
    weight = _ours(base, state)["conv.weight"]
    x = torch.randn(2, 32, 9, 9, generator=gen)
    with torch.no_grad():
        want = base.conv(x) + 0.5 * F.conv2d(F.conv2d(F.conv2d(x, down), mid), up)
        got = F.conv2d(x, weight, base.conv.bias)
    assert relative_error(got, want) <= 1e-5


def test_full_diff_norm_and_bias_diffs_add() -> None:
    norm = nn.LayerNorm(6)
    randomize_parameters(norm, 2)
    gen = torch.Generator().manual_seed(11)
    w_norm, b_norm = torch.randn(6, generator=gen), torch.randn(6, generator=gen)
    state = {"norm.w_norm": w_norm, "norm.b_norm": b_norm}
    holder = nn.Module()
    holder.norm = norm
    ours = _ours(holder, state, strength=0.5)  # type: ignore[arg-type]
    assert torch.allclose(ours["norm.weight"], norm.weight + 0.5 * w_norm)
    assert torch.allclose(ours["norm.bias"], norm.bias + 0.5 * b_norm)
    base = _net()
    diff, diff_b = torch.randn(64, 48, generator=gen), torch.randn(64, generator=gen)
    ours = _ours(base, {"lin.diff": diff.half(), "lin.diff_b": diff_b})
    assert torch.allclose(ours["lin.weight"], base.lin.weight + diff.half().float())
    assert torch.allclose(ours["lin.bias"], base.lin.bias + diff_b)
