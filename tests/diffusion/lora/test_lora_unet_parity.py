"""A LoRA on our UNet equals diffusers / PEFT applying the same file to diffusers' UNet.

Every Linear and Conv2d gets a random rank-2 LoRA (3x3 LoCon down / 1x1 up on convolutions) with
alpha != rank; the files are keyed by the REFERENCE model's module names. Reference paths:
kohya and diffusers-format files go through diffusers' ``lora_state_dict`` (its kohya / SGM
converters) and ``load_lora_into_unet`` (PEFT layers); PEFT-format files are injected with
PEFT itself (``inject_adapter_in_model`` + ``set_peft_model_state_dict``). We apply ours with
``patched_copy`` and compare the UNet outputs: max|Δ| / max|ref| <= 1e-5.
"""

from __future__ import annotations

import json

import pytest
import torch

from diffusion.patching import PatchSet, patched_copy
from diffusion.patching.lora import lora_from_state_dict, lora_patches, unet_target
from tests.diffusion.conftest import relative_error
from tests.diffusion.lora import _lora_testlib as lib

diffusers = pytest.importorskip("diffusers")
peft = pytest.importorskip("peft")
from diffusers.loaders import (  # noqa: E402
    StableDiffusionLoraLoaderMixin,
    StableDiffusionXLLoraLoaderMixin,
)

RANK, ALPHA = 2, 3.0


def _ours_patched(ours, cfg, state, metadata=None):
    lora = lora_from_state_dict(state, metadata)
    mapping = lora_patches(lora, {"unet": unet_target(cfg)}, {"unet": 1.0})
    assert mapping.unmapped == () and mapping.mapped == len(state)
    return patched_copy(ours, PatchSet(mapping.patches["unet"])).module


def _load_with_diffusers(ref, state, family: str) -> None:
    """diffusers' own loader; ``.alpha`` tensors of diffusers-format files as network alphas."""
    state = dict(state)
    loader = StableDiffusionLoraLoaderMixin
    if family == "sdxl":
        loader = StableDiffusionXLLoraLoaderMixin
    if any(k.startswith("lora_unet_") for k in state):
        kwargs = {"unet_config": ref.config} if family == "sdxl" else {}
        converted, alphas = loader.lora_state_dict(state, **kwargs)
    else:
        alphas = {k: float(state.pop(k)) for k in list(state) if k.endswith(".alpha")}
        converted, _ = loader.lora_state_dict(state)
    loader.load_lora_into_unet(converted, alphas, ref)


def _check(ours, ref, cfg, patched) -> None:
    got, want = lib.unet_outputs(patched, ref, cfg)
    base, _ = lib.unet_outputs(ours, ref, cfg)
    assert relative_error(base, want) > 0.05  # the LoRA matters
    assert relative_error(got, want) <= 1e-5


CONFIGS = {"sd1": lib.sd1_config, "sdxl": lib.sdxl_config}


def _processor(name: str) -> str:
    """diffusers' old attention-processor spelling: ``attn1.processor.to_q_lora``."""
    base, _, proj = name.replace(".to_out.0", ".to_out").rpartition(".")
    return f"unet.{base}.processor.{proj}_lora"


DIFFUSERS_STYLES = {  # spelling, (down, up) suffixes, alpha, modules kept
    "kohya": (
        lib.kohya("lora_unet_"),
        ("lora_down.weight", "lora_up.weight"),
        ALPHA,
        # kohya's SDXL files name add_embedding by its LDM name (label_emb): see below
        lambda name: not name.startswith("add_embedding."),
    ),
    "diffusers": (lib.dotted("unet."), ("lora.down.weight", "lora.up.weight"), ALPHA, None),
    "attention_processor": (
        _processor,
        ("down.weight", "up.weight"),
        None,  # alpha = rank: diffusers keeps no alphas in this form
        lambda name: ".attn" in name,
    ),
}


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
@pytest.mark.parametrize("style", list(DIFFUSERS_STYLES))
def test_kohya_and_diffusers_formats_match_diffusers(family, style) -> None:
    cfg = CONFIGS[family]()
    ours, ref = lib.unet_pair(cfg)
    spell, suffixes, alpha, keep = DIFFUSERS_STYLES[style]
    modules = lib.linear_and_conv_names(ref)
    modules = {k: v for k, v in modules.items() if keep is None or keep(k)}
    state = lib.build_lora(modules, spell, suffixes, rank=RANK, seed=5, alpha=alpha)
    patched = _ours_patched(ours, cfg, state)
    _load_with_diffusers(ref, state, family)
    _check(ours, ref, cfg, patched)


def test_sdxl_kohya_ldm_names_match_diffusers_sgm_conversion() -> None:
    """kohya's SDXL trainer names the UNet's modules by LDM names (``lora_unet_input_blocks_4_
    1_...``); diffusers maps them with ``_maybe_map_sgm_blocks_to_diffusers``."""
    cfg = lib.sdxl_config()
    ours, ref = lib.unet_pair(cfg)
    modules = lib.linear_and_conv_names(ours)  # our names are the LDM names
    state = lib.build_lora(
        modules,
        lib.kohya("lora_unet_"),
        ("lora_down.weight", "lora_up.weight"),
        rank=RANK,
        seed=6,
        alpha=ALPHA,
    )
    assert any(k.startswith("lora_unet_input_blocks_") for k in state)
    patched = _ours_patched(ours, cfg, state)
    _load_with_diffusers(ref, state, "sdxl")
    _check(ours, ref, cfg, patched)


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_peft_format_with_metadata_alphas_matches_peft(family) -> None:
    """``unet.<module>.lora_A/B.weight`` and diffusers' ``lora_adapter_metadata`` (lora_alpha,
    an alpha_pattern entry) against PEFT's own injection of the same config."""
    cfg = CONFIGS[family]()
    ours, ref = lib.unet_pair(cfg)
    modules = lib.linear_and_conv_names(ref)
    state = lib.build_lora(
        modules, lib.dotted(""), ("lora_A.weight", "lora_B.weight"), rank=RANK, seed=7
    )
    special = next(name for name in modules if name.endswith("attn2.to_k"))
    config = {"r": RANK, "lora_alpha": ALPHA, "alpha_pattern": {special: 5.0}}
    peft.inject_adapter_in_model(
        peft.LoraConfig(target_modules=list(modules), **config),
        ref,  # type: ignore[arg-type]
    )
    result = peft.set_peft_model_state_dict(ref, state)
    assert not result.unexpected_keys
    metadata = {"lora_adapter_metadata": json.dumps({f"unet.{k}": v for k, v in config.items()})}
    patched = _ours_patched(ours, cfg, {"unet." + k: v for k, v in state.items()}, metadata)
    _check(ours, ref, cfg, patched)


def test_bare_peft_names_without_metadata_use_scale_one() -> None:
    """``base_model.model.<module>`` keys (a PEFT model's own save) with no alpha anywhere."""
    cfg = lib.sd1_config()
    ours, ref = lib.unet_pair(cfg)
    modules = lib.linear_and_conv_names(ref)
    state = lib.build_lora(
        modules, lib.dotted(""), ("lora_A.weight", "lora_B.weight"), rank=RANK, seed=8
    )
    peft.inject_adapter_in_model(
        peft.LoraConfig(r=RANK, lora_alpha=RANK, target_modules=list(modules)), ref
    )
    peft.set_peft_model_state_dict(ref, state)
    patched = _ours_patched(ours, cfg, {"base_model.model." + k: v for k, v in state.items()})
    _check(ours, ref, cfg, patched)


def test_half_precision_file_tensors_are_computed_in_float32() -> None:
    """fp16 / bf16 files: ΔW from float32 copies of the stored values, as diffusers does after
    upcasting the same stored values."""
    cfg = lib.sd1_config()
    ours, ref = lib.unet_pair(cfg)
    modules = lib.linear_and_conv_names(ref)
    state = lib.build_lora(
        modules,
        lib.kohya("lora_unet_"),
        ("lora_down.weight", "lora_up.weight"),
        rank=RANK,
        seed=9,
        alpha=ALPHA,
    )
    half = {k: v.to(torch.bfloat16 if "up" in k else torch.float16) for k, v in state.items()}
    patched = _ours_patched(ours, cfg, half)
    _load_with_diffusers(ref, {k: v.float() for k, v in half.items()}, "sd1")
    _check(ours, ref, cfg, patched)
