"""OpenCLIP's fused in_proj: q, k, v adapters patch only their rows; text_projection transposed."""

from __future__ import annotations

import pytest
import torch

from diffusion.patching import PatchSet, patched_weights
from diffusion.patching.lora import lora_from_state_dict, lora_patches, text_target
from tests.diffusion.lora import _lora_testlib as lib

PREFIX = "conditioner.embedders.1.model."


def _clip_g():
    cfg = lib.text_config("open_clip")
    ours, _ = lib.text_pair("open_clip", PREFIX, seed=40)
    target = text_target("clip_g", "open_clip", cfg, role="te2", checkpoint_prefix=PREFIX)
    return ours, target, cfg.width


def _patched(ours, target, state):
    mapping = lora_patches(lora_from_state_dict(state), {"clip_g": target}, {"clip_g": 1.0})
    assert mapping.unmapped == () and mapping.mapped == len(state)
    return patched_weights(ours, PatchSet(mapping.patches["clip_g"]))


@pytest.mark.parametrize(("proj", "rows"), [("q", 0), ("k", 1), ("v", 2)])
def test_kohya_te2_lora_on_one_projection_changes_only_its_rows(proj, rows) -> None:
    ours, target, width = _clip_g()
    gen = torch.Generator().manual_seed(1)
    stem = f"lora_te2_text_model_encoder_layers_1_self_attn_{proj}_proj"
    state = {
        f"{stem}.lora_down.weight": torch.randn(2, width, generator=gen),
        f"{stem}.lora_up.weight": torch.randn(width, 2, generator=gen),
        f"{stem}.alpha": torch.tensor(1.0),
        f"{stem}.diff_b": torch.randn(width, generator=gen),
    }
    new = _patched(ours, target, state)
    assert set(new) == {
        "transformer.resblocks.1.attn.in_proj_weight",
        "transformer.resblocks.1.attn.in_proj_bias",
    }
    key = "transformer.resblocks.1.attn.in_proj_weight"
    base = ours.state_dict()[key]
    block = slice(rows * width, (rows + 1) * width)
    change = new[key] - base
    want = 0.5 * state[f"{stem}.lora_up.weight"] @ state[f"{stem}.lora_down.weight"]
    torch.testing.assert_close(change[block], want, rtol=0, atol=1e-6)
    outside = torch.ones(3 * width, dtype=torch.bool)
    outside[block] = False
    assert torch.equal(new[key][outside], base[outside])  # other rows bit-identical
    bias = "transformer.resblocks.1.attn.in_proj_bias"
    bias_change = new[bias] - ours.state_dict()[bias]
    torch.testing.assert_close(bias_change[block], state[f"{stem}.diff_b"], rtol=0, atol=1e-6)
    assert torch.equal(bias_change[outside], torch.zeros(2 * width))


def test_text_projection_is_patched_in_transformers_orientation() -> None:
    """A transformers-named ``text_projection`` diff is (proj, width); ours is (width, proj)."""
    ours, target, width = _clip_g()
    diff = torch.randn(24, width, generator=torch.Generator().manual_seed(2))  # (proj, width)
    new = _patched(ours, target, {"text_encoder_2.text_projection.diff": diff})
    torch.testing.assert_close(new["text_projection"] - ours.text_projection, diff.T)
    own = _patched(ours, target, {PREFIX + "text_projection.diff": diff.T.contiguous()})
    torch.testing.assert_close(own["text_projection"] - ours.text_projection, diff.T)


def test_fused_in_proj_by_its_own_name_patches_all_rows() -> None:
    ours, target, width = _clip_g()
    gen = torch.Generator().manual_seed(3)
    stem = PREFIX + "transformer.resblocks.0.attn.in_proj"
    state = {
        f"{stem}.lora_down.weight": torch.randn(1, width, generator=gen),
        f"{stem}.lora_up.weight": torch.randn(3 * width, 1, generator=gen),
    }
    new = _patched(ours, target, state)
    key = "transformer.resblocks.0.attn.in_proj_weight"
    want = state[f"{stem}.lora_up.weight"] @ state[f"{stem}.lora_down.weight"]
    torch.testing.assert_close(new[key] - ours.state_dict()[key], want, rtol=0, atol=1e-6)
