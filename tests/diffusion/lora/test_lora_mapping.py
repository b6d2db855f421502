"""Mapping outcomes: family guesses, the "maps to nothing" error, ambiguity, bad input."""

from __future__ import annotations

import logging

import pytest
import torch

from diffusion.patching.lora import (
    LoraFormatError,
    LoraMappingError,
    TargetModel,
    lora_from_state_dict,
    lora_patches,
    text_target,
    unet_target,
)
from diffusion.patching.lora.formats import parse_adapters
from tests.diffusion.lora import _lora_testlib as lib


def _pair(stem: str, out: int, inp: int) -> dict[str, torch.Tensor]:
    return {
        f"{stem}.lora_down.weight": torch.zeros(1, inp),
        f"{stem}.lora_up.weight": torch.zeros(out, 1),
    }


CROSS_K = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"


@pytest.mark.parametrize(
    ("state", "family"),
    [
        (_pair(CROSS_K, 640, 768), "sd1"),
        (_pair(CROSS_K, 640, 1024), "sd2"),
        (
            _pair("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v", 640, 2048),
            "sdxl",
        ),
        (
            _pair("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", 640, 1280),
            "sdxl_refiner",
        ),
        (_pair("lora_te2_text_model_encoder_layers_0_mlp_fc1", 5120, 1280), "sdxl"),
        (_pair("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 1024, 1024), "sd2"),
        (_pair("lora_unet_conv_in", 320, 4), None),
    ],
)
def test_family_guess_from_names_and_widths(state, family) -> None:
    target = TargetModel("unet", {"x.weight": (2, 2)})
    mapping = lora_patches(lora_from_state_dict(state), {"unet": target}, {"unet": 1.0})
    assert mapping.guess_family() == family


def test_a_lora_for_another_family_maps_to_nothing_and_says_which() -> None:
    sdxl_lora = _pair(CROSS_K, 640, 2048) | _pair(
        "lora_te2_text_model_encoder_layers_0_mlp_fc1", 1, 32
    )
    cfg = lib.sd1_config()
    targets = {
        "unet": unet_target(cfg),
        "clip_l": text_target("clip_l", "clip", lib.text_config("clip"), role="te"),
    }
    mapping = lora_patches(
        lora_from_state_dict(sdxl_lora, name="xl.safetensors"), targets, dict.fromkeys(targets, 1.0)
    )
    assert mapping.mapped == 0 and len(mapping.unmapped) == 4
    with pytest.raises(
        LoraMappingError, match=r"xl\.safetensors: this LoRA maps to nothing.*SDXL LoRA"
    ):
        mapping.ensure_mapped()


def test_unprefixed_text_names_fitting_both_sdxl_encoders_stay_unmapped(caplog) -> None:
    """Bare transformers names cannot say which of two equally wide encoders they mean."""
    targets = {
        "clip_l": text_target("clip_l", "clip", lib.text_config("clip"), role="te1"),
        "clip_g": text_target("clip_g", "open_clip", lib.text_config("open_clip"), role="te2"),
    }
    bare = _pair("text_model.encoder.layers.0.mlp.fc1", 128, 32)
    named = _pair("text_encoder_2.text_model.encoder.layers.0.mlp.fc1", 128, 32)
    with caplog.at_level(logging.WARNING):
        mapping = lora_patches(
            lora_from_state_dict(bare | named), targets, dict.fromkeys(targets, 1.0)
        )
    assert mapping.unmapped == tuple(sorted(bare)) and mapping.mapped == 2
    assert [p.key for p in mapping.patches["clip_g"]] == ["transformer.resblocks.0.mlp.c_fc.weight"]
    assert "ambiguous" in caplog.text


def test_strengths_must_name_exactly_the_targets() -> None:
    targets = {"unet": TargetModel("unet", {"x.weight": (2, 2)})}
    lora = lora_from_state_dict(_pair("x", 2, 2))
    with pytest.raises(KeyError, match=r"missing \['unet'\], unknown \['clip'\]"):
        lora_patches(lora, targets, {"clip": 1.0})
    with pytest.raises(ValueError, match="keys must be names"):
        lora_patches(lora, {"model": targets["unet"]}, {"model": 1.0})
    with pytest.raises(ValueError, match=r"strengths\['unet'\]=nan is not finite"):
        lora_patches(lora, targets, {"unet": float("nan")})


def test_inconsistent_adapter_tensors_name_the_adapter() -> None:
    state = {"x.lora_down.weight": torch.zeros(2, 4), "x.lora_up.weight": torch.zeros(3, 1)}
    with pytest.raises(LoraFormatError, match=r"adapter 'x'.*ranks disagree \(1 != 2\)"):
        parse_adapters(lora_from_state_dict(state))
    alpha = _pair("y", 2, 2) | {"y.alpha": torch.ones(2)}
    with pytest.raises(LoraFormatError, match=r"adapter 'y': alpha has shape \(2,\)"):
        parse_adapters(lora_from_state_dict(alpha))


def test_rank_one_lora_on_a_mismatched_shape_is_unmapped_not_applied(caplog) -> None:
    targets = {"unet": TargetModel("unet", {"x.weight": (3, 4)})}
    with caplog.at_level(logging.WARNING):
        mapping = lora_patches(lora_from_state_dict(_pair("x", 3, 5)), targets, {"unet": 1.0})
    assert mapping.mapped == 0 and len(mapping.unmapped) == 2
    assert "fits no target shape [(3, 4)]" in caplog.text


def test_one_module_spelled_twice_is_patched_once(caplog) -> None:
    targets = {"unet": unet_target(lib.sd1_config())}
    state = _pair("lora_unet_conv_in", 32, 4 * 9) | _pair("unet.conv_in", 32, 4 * 9)
    with caplog.at_level(logging.WARNING):
        mapping = lora_patches(lora_from_state_dict(state), targets, {"unet": 1.0})
    assert [p.key for p in mapping.patches["unet"]] == ["input_blocks.0.0.weight"]
    assert mapping.unmapped == tuple(sorted(_pair("unet.conv_in", 32, 36)))
    assert "both patch input_blocks.0.0.weight" in caplog.text


def test_a_lone_open_clip_answers_to_both_diffusers_spellings() -> None:
    """SD2's encoder is diffusers' ``text_encoder``; the SDXL refiner's is ``text_encoder_2``."""
    target = text_target("clip_g", "open_clip", lib.text_config("open_clip"), role="te")
    state = (
        _pair("text_encoder_2.text_model.encoder.layers.0.mlp.fc1", 128, 32)
        | _pair("text_encoder.text_model.encoder.layers.1.mlp.fc1", 128, 32)
        | _pair("lora_te_text_model_encoder_layers_0_mlp_fc2", 32, 128)
    )
    mapping = lora_patches(lora_from_state_dict(state), {"clip_g": target}, {"clip_g": 1.0})
    assert mapping.mapped == 6 and mapping.unmapped == ()
