"""A LoRA on our text encoders equals diffusers / PEFT applying the file to transformers' CLIP.

Covers CLIP-L alone (SD1, ``lora_te_``), OpenCLIP-H alone (SD2, ``lora_te_`` onto the fused
``in_proj`` through row slices) and SDXL's pair in one file (``lora_te1_`` -> CLIP-L,
``lora_te2_`` -> OpenCLIP-bigG). Every q/k/v/out/fc1/fc2 Linear of the reference gets a random
rank-2 LoRA with alpha != rank; files are keyed by the reference's module names. kohya and
diffusers-format files go through diffusers' ``lora_state_dict`` + ``load_lora_into_text_encoder``;
PEFT-format files (text_projection included: ours is stored transposed) through PEFT itself.
Compared: last hidden states (and projected pooled outputs), max|Δ| / max|ref| <= 1e-5.
"""

from __future__ import annotations

import json

import pytest

from diffusion.patching import PatchSet, patched_copy
from diffusion.patching.lora import lora_from_state_dict, lora_patches, text_target
from tests.diffusion.conftest import relative_error
from tests.diffusion.lora import _lora_testlib as lib

pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers")
peft = pytest.importorskip("peft")
from diffusers.loaders import StableDiffusionXLLoraLoaderMixin as Loader  # noqa: E402

RANK, ALPHA = 2, 5.0
SLOTS = {  # family -> ((target name, kind, role, checkpoint prefix, diffusers / kohya names))
    "sd1": (("clip_l", "clip", "te", "cond_stage_model.transformer.", "text_encoder", "te"),),
    "sd2": (("clip_h", "open_clip", "te", "cond_stage_model.model.", "text_encoder", "te"),),
    "sdxl": (
        ("clip_l", "clip", "te1", "conditioner.embedders.0.transformer.", "text_encoder", "te1"),
        ("clip_g", "open_clip", "te2", "conditioner.embedders.1.model.", "text_encoder_2", "te2"),
    ),
}
STYLES = {
    "kohya": lambda comp, kohya: (
        lib.kohya(f"lora_{kohya}_"),
        ("lora_down.weight", "lora_up.weight"),
    ),
    "diffusers": lambda comp, kohya: (
        lib.dotted(comp + "."),
        ("lora_linear_layer.down.weight", "lora_linear_layer.up.weight"),
    ),
}


def _encoders(family: str):
    out = []
    for index, (name, kind, role, prefix, comp, kohya) in enumerate(SLOTS[family]):
        ours, ref = lib.text_pair(kind, prefix, seed=30 + index)
        target = text_target(name, kind, lib.text_config(kind), role=role, checkpoint_prefix=prefix)
        out.append((name, ours, ref, target, comp, kohya))
    return out


def _check(encoders, lora, strengths=None) -> None:
    targets = {name: target for name, _, _, target, _, _ in encoders}
    mapping = lora_patches(lora, targets, strengths or dict.fromkeys(targets, 1.0))
    assert mapping.unmapped == () and mapping.mapped == len(lora.tensors)
    for name, ours, ref, _, _, _ in encoders:
        patched = patched_copy(ours, PatchSet(mapping.patches[name])).module
        got, want, got_pooled, want_pooled = lib.text_outputs(patched, ref)
        base = lib.text_outputs(ours, ref)[0]
        assert relative_error(base, want) > 0.05, name  # the LoRA matters
        assert relative_error(got, want) <= 1e-5, name
        if name != "clip_l":  # OpenCLIP: the projected pooled output too
            assert relative_error(got_pooled, want_pooled) <= 1e-5, name


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
@pytest.mark.parametrize("style", list(STYLES))
def test_kohya_and_diffusers_formats_match_diffusers(family, style) -> None:
    encoders = _encoders(family)
    state = {}
    for seed, (_, _, ref, _, comp, kohya) in enumerate(encoders):
        spell, suffixes = STYLES[style](comp, kohya)
        modules = lib.linear_and_conv_names(ref, exclude=("text_projection",))
        state |= lib.build_lora(modules, spell, suffixes, rank=RANK, seed=seed, alpha=ALPHA)
    converted, alphas = Loader.lora_state_dict(
        {k: v for k, v in state.items() if style == "kohya" or not k.endswith(".alpha")}
    )
    if style == "diffusers":
        alphas = {k: float(v) for k, v in state.items() if k.endswith(".alpha")}
    for _, _, ref, _, comp, _ in encoders:
        Loader.load_lora_into_text_encoder(converted, alphas, text_encoder=ref, prefix=comp)
    _check(encoders, lora_from_state_dict(state))


@pytest.mark.parametrize("family", ["sd2", "sdxl"])
def test_peft_format_with_text_projection_matches_peft(family) -> None:
    encoders = _encoders(family)
    state, metadata = {}, {}
    for seed, (_, _, ref, _, comp, _) in enumerate(encoders):
        modules = lib.linear_and_conv_names(ref)
        if "text_projection" in modules and comp != "text_encoder_2" and family == "sdxl":
            del modules["text_projection"]  # CLIP-L: ours has no projection
        part = lib.build_lora(
            modules, lib.dotted(""), ("lora_A.weight", "lora_B.weight"), rank=RANK, seed=10 + seed
        )
        config = {"r": RANK, "lora_alpha": ALPHA + seed}
        peft.inject_adapter_in_model(peft.LoraConfig(target_modules=list(modules), **config), ref)
        assert not peft.set_peft_model_state_dict(ref, part).unexpected_keys
        state |= {f"{comp}.{k}": v for k, v in part.items()}
        metadata |= {f"{comp}.{k}": v for k, v in config.items()}
    lora = lora_from_state_dict(state, {"lora_adapter_metadata": json.dumps(metadata)})
    _check(encoders, lora)
