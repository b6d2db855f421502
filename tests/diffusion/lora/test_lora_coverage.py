"""Key coverage on full-size SD1.5 / SD2.1 / SDXL layouts: every key of every scheme maps.

Module names come from the reference models (diffusers' UNet, transformers' CLIP, built on the
meta device) or from our own LDM / checkpoint names, never from our key maps. Each file covers
every Linear and Conv2d of the UNet (attention q/k/v/out, feed-forward, proj_in/out, resnet and
sampler convolutions for LoCon, embeddings) and the q/k/v/out/fc1/fc2 projections of every text
encoder layer, as rank-1 fp16 LoRAs: a few MB even for SDXL; no full-size weight is allocated.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from diffusion.checkpoint_maker import checkpoint_layout
from diffusion.loading.detect import CheckpointLayout
from diffusion.patching.lora import layout_targets, lora_from_state_dict, lora_patches
from diffusion.patching.lora.targets import TargetModel
from diffusion.text.clip import TextEncoderConfig
from diffusion.unet import UNetModel
from tests.diffusion.conftest import diffusers_unet_config

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

TEXT_LAYERS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
OWN_TEXT = (*TEXT_LAYERS, "attn.in_proj", "c_fc", "c_proj")
Modules = dict[str, tuple[int, ...]]  # module name -> weight shape


def _linear_and_conv(model: nn.Module) -> Modules:
    return {
        name: tuple(module.weight.shape)
        for name, module in model.named_modules()
        if isinstance(module, (nn.Linear, nn.Conv2d))
    }


def _meta(factory: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return factory()


def _hf_text(cfg: TextEncoderConfig) -> Modules:
    hf = transformers.CLIPTextConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.width,
        intermediate_size=cfg.width * cfg.mlp_ratio,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        hidden_act=cfg.activation,
        projection_dim=cfg.projection_dim or cfg.width,
    )
    model = _meta(lambda: transformers.CLIPTextModelWithProjection(hf))
    return {k: v for k, v in _linear_and_conv(model).items() if k.endswith(TEXT_LAYERS)}


def _own_text(target: TargetModel) -> Modules:
    out = {}
    for key, shape in target.shapes.items():
        stem = key.removesuffix(".weight").removesuffix("_weight")
        if stem != key and stem.endswith(OWN_TEXT):
            out[stem] = shape
    return out


@pytest.fixture(scope="module", params=["sd15", "sd21", "sdxl"])
def layout(request) -> tuple[str, CheckpointLayout, dict[str, TargetModel]]:
    found = checkpoint_layout(request.param)
    return request.param, found, layout_targets(found)


def _rank1(name: str, shape: tuple[int, ...], suffixes: tuple[str, str]) -> dict[str, Tensor]:
    up_shape = (shape[0], 1, *([1] * (len(shape) - 2)))
    return {
        f"{name}.{suffixes[0]}": torch.zeros(1, *shape[1:], dtype=torch.float16),
        f"{name}.{suffixes[1]}": torch.zeros(up_shape, dtype=torch.float16),
        f"{name}.alpha": torch.tensor(1.0),
    }


def _file(parts: list[tuple[Modules, Callable[[str], str]]], suffixes: tuple[str, str]):
    state: dict[str, Tensor] = {}
    for modules, spell in parts:
        for name, shape in modules.items():
            state |= _rank1(spell(name), shape, suffixes)
    return state


def _kohya(prefix: str) -> Callable[[str], str]:
    return lambda name: prefix + name.replace(".", "_")


def _dotted(prefix: str) -> Callable[[str], str]:
    return lambda name: prefix + name


def _names(arch: str, found: CheckpointLayout, targets: dict[str, TargetModel]):
    """Per-scheme (modules, spelling) parts of one file."""
    unet_cfg = diffusers_unet_config(found.unet)
    ref_unet = _linear_and_conv(_meta(lambda: diffusers.UNet2DConditionModel(**unet_cfg)))
    ldm_unet = _linear_and_conv(_meta(lambda: UNetModel(found.unet)))
    sdxl = arch == "sdxl"
    texts = []  # (slot, hf modules, own modules, kohya prefix, diffusers prefix)
    for index, (slot, cfg) in enumerate(found.text):
        kohya = f"lora_te{index + 1}_" if sdxl else "lora_te_"
        comp = "text_encoder_2." if index else "text_encoder."
        texts.append((slot, _hf_text(cfg), _own_text(targets[slot.name]), kohya, comp))
    schemes = {
        "kohya": [(ref_unet, _kohya("lora_unet_"))] + [(t[1], _kohya(t[3])) for t in texts],
        "kohya_ldm": [(ldm_unet, _kohya("lora_unet_"))] + [(t[1], _kohya(t[3])) for t in texts],
        "diffusers": [(ref_unet, _dotted("unet."))] + [(t[1], _dotted(t[4])) for t in texts],
        "peft": [(ref_unet, _dotted("unet."))] + [(t[1], _dotted(t[4])) for t in texts],
        "comfyui": [(ldm_unet, _dotted("diffusion_model."))]
        + [(t[1], _dotted(f"text_encoders.{t[0].name}.transformer.")) for t in texts],
        "checkpoint": [(ldm_unet, _dotted("model.diffusion_model."))]
        + [(t[2], _dotted(t[0].prefix)) for t in texts],
    }
    return schemes, len(ref_unet), sum(len(t[1]) for t in texts)


SUFFIXES = {
    "kohya": ("lora_down.weight", "lora_up.weight"),
    "kohya_ldm": ("lora_down.weight", "lora_up.weight"),
    "diffusers": ("lora.down.weight", "lora.up.weight"),
    "peft": ("lora_A.weight", "lora_B.weight"),
    "comfyui": ("lora_down.weight", "lora_up.weight"),
    "checkpoint": ("lora_down.weight", "lora_up.weight"),
}


def test_every_key_of_every_scheme_maps(layout) -> None:
    arch, found, targets = layout
    schemes, unet_count, text_count = _names(arch, found, targets)
    assert unet_count > 200 and text_count >= 72  # full-size: SD1.5 has 12 text layers x 6
    strengths = dict.fromkeys(targets, 1.0)
    for scheme, parts in schemes.items():
        state = _file(parts, SUFFIXES[scheme])
        mapping = lora_patches(lora_from_state_dict(state), targets, strengths)
        assert mapping.unmapped == (), (scheme, mapping.unmapped[:5])
        assert mapping.mapped == len(state), scheme
        adapters = len(state) // 3
        patched = {(p.key, p.rows) for found in mapping.patches.values() for p in found}
        assert len(patched) == adapters, scheme  # distinct parameters (rows) per adapter
        assert sum(len(p) for p in mapping.patches.values()) == adapters


def test_junk_keys_are_reported_exactly(layout) -> None:
    arch, found, targets = layout
    schemes, _, _ = _names(arch, found, targets)
    state = _file(schemes["kohya"], SUFFIXES["kohya"])
    mid = next(k for k in state if "mid_block_attentions_0_proj_in" in k).split(".")[0]
    junk = {
        "lora_unet_not_a_layer.lora_down.weight": torch.zeros(1, 4),
        "lora_unet_not_a_layer.lora_up.weight": torch.zeros(4, 1),
        "lora_te3_text_model_encoder_layers_0_mlp_fc1.alpha": torch.tensor(1.0),
        "lora_unet_input_blocks_0_0.lora_up.weight": torch.zeros(320, 1, 1, 1),  # half adapter
        "unet.mid_block.attentions.0.proj_in.lora_A.weight": torch.zeros(1, 7),  # wrong shape
        "unet.mid_block.attentions.0.proj_in.lora_B.weight": torch.zeros(3, 1),
        "ss_training_comment": torch.zeros(1),
        f"{mid}.hada_w1_a": torch.zeros(2, 2),  # LoHa half beside a complete LoRA: stray
    }
    mapping = lora_patches(lora_from_state_dict(state | junk), targets, dict.fromkeys(targets, 1.0))
    assert mapping.unmapped == tuple(sorted(junk))
    assert len(mapping.unmapped) == 8 and mapping.mapped == len(state)
    assert mapping.total == len(state) + 8
