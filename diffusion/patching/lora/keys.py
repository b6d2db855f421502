"""Every naming scheme's module names for a target model, mapped to our parameters.

Names are generated, never parsed: kohya's underscore-joined names cannot be split reliably, so
for each of our modules we spell its name in every scheme and look file names up.

* UNet (our names are LDM names): LDM (``input_blocks.4.1...``, bare, ``diffusion_model.`` as
  ComfyUI's LoraSave writes, ``model.diffusion_model.``), kohya (``lora_unet_`` + diffusers or
  LDM names with ``_``), diffusers / PEFT (``unet.`` / bare / ``base_model.model.`` + diffusers
  names from ``diffusers_keys``), diffusers' attention processors (``attn1.processor.to_q_lora``).
* Text encoders: transformers names under kohya's ``lora_te_`` / ``lora_te1_`` / ``lora_te2_``,
  diffusers' ``text_encoder.`` / ``text_encoder_2.``, ComfyUI's ``text_encoders.clip_l.
  transformer.``, bare and ``base_model.model.``; the checkpoint's own names under its prefix.
  OpenCLIP's fused ``in_proj`` is reached through q / k / v with a row slice, and its
  ``text_projection`` (stored input-major) through transformers' ``text_projection`` transposed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from diffusion.loading.diffusers_keys import OPEN_CLIP_LAYER, key_map, unet_prefixes
from diffusion.patching.lora.targets import TargetModel

_UNET_OWN_PREFIXES = ("", "diffusion_model.", "model.diffusion_model.")
_DIFFUSERS_PREFIXES = ("", "unet.", "base_model.model.")
_SUFFIXES = ((".weight", "weight"), (".bias", "bias"), ("_weight", "weight"), ("_bias", "bias"))
_UNET_ATTENTION = re.compile(r"^(?P<base>.+\.attn[12])\.(?P<proj>to_q|to_k|to_v|to_out)(\.0)?$")
_TEXT_ATTENTION = re.compile(r"^(?P<base>.+\.self_attn)\.(?P<proj>q|k|v|out)_proj$")
_OPEN_CLIP_TOP = {
    "token_embedding": "text_model.embeddings.token_embedding",
    "positional_embedding": "text_model.embeddings.position_embedding",
    "ln_final": "text_model.final_layer_norm",
}
_RESBLOCK = re.compile(r"^transformer\.resblocks\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class ParamRef:
    """One of our parameters as an adapter sees it."""

    target: str
    key: str  # our parameter key
    shape: tuple[int, ...]  # the adapter's view: the row slice, transposed when ``transpose``
    rows: tuple[int, int] | None = None  # [start, stop) along dim 0 (fused in_proj)
    transpose: bool = False  # the scheme stores the parameter transposed (text_projection)


@dataclass(frozen=True)
class ModuleRef:
    weight: ParamRef | None
    bias: ParamRef | None


Alias = tuple[str, ModuleRef]


def _underscored(name: str) -> str:
    return name.replace(".", "_")


def own_modules(target: TargetModel) -> dict[str, ModuleRef]:
    """Our module names (parameter keys less ``.weight`` / ``_weight`` ...) -> parameters."""
    fields: dict[str, dict[str, ParamRef]] = {}
    for key, shape in target.shapes.items():
        if not shape:
            continue  # scalars (logit_scale) are no adapter's target
        stem, field = key, "weight"  # positional_embedding, text_projection
        for suffix, name in _SUFFIXES:
            if key.endswith(suffix):
                stem, field = key[: -len(suffix)], name
                break
        fields.setdefault(stem, {})[field] = ParamRef(target.name, key, tuple(shape))
    return {stem: ModuleRef(f.get("weight"), f.get("bias")) for stem, f in fields.items()}


def _prefixed(prefixes: tuple[str, ...], name: str, ref: ModuleRef) -> Iterator[Alias]:
    for prefix in dict.fromkeys(prefixes):
        yield prefix + name, ref


def _unet_aliases(target: TargetModel, modules: dict[str, ModuleRef]) -> Iterator[Alias]:
    assert target.unet is not None
    prefixes = unet_prefixes(target.unet)
    for stem, ref in modules.items():
        yield from _prefixed((*_UNET_OWN_PREFIXES, target.checkpoint_prefix), stem, ref)
        yield "lora_unet_" + _underscored(stem), ref
        param = ref.weight or ref.bias
        assert param is not None
        diffusers = key_map([param.key], prefixes)[param.key].rsplit(".", 1)[0]
        yield from _prefixed(_DIFFUSERS_PREFIXES, diffusers, ref)
        yield "lora_unet_" + _underscored(diffusers), ref
        if match := _UNET_ATTENTION.match(diffusers):
            processor = f"{match['base']}.processor.{match['proj']}_lora"
            yield from _prefixed(("", "unet."), processor, ref)


def _in_proj_parts(ref: ModuleRef) -> Iterator[tuple[str, ModuleRef]]:
    """q, k, v of a fused ``in_proj``: (q|k|v, the rows of weight and bias)."""
    assert ref.weight is not None
    width = ref.weight.shape[0] // 3
    for index, name in enumerate("qkv"):
        rows = (index * width, (index + 1) * width)
        weight = replace(ref.weight, rows=rows, shape=(width, *ref.weight.shape[1:]))
        bias = None if ref.bias is None else replace(ref.bias, rows=rows, shape=(width,))
        yield name, ModuleRef(weight, bias)


def _open_clip_hf(stem: str, ref: ModuleRef) -> Iterator[tuple[str, ModuleRef]]:
    """transformers names of one OpenCLIP module (three for a fused in_proj)."""
    if stem in _OPEN_CLIP_TOP:
        yield _OPEN_CLIP_TOP[stem], ref
    elif stem == "text_projection" and ref.weight is not None:
        rows, cols = ref.weight.shape
        yield stem, ModuleRef(replace(ref.weight, shape=(cols, rows), transpose=True), None)
    elif match := _RESBLOCK.match(stem):
        layer, part = f"text_model.encoder.layers.{match[1]}.", match[2]
        if part == "attn.in_proj":
            for name, sliced in _in_proj_parts(ref):
                yield f"{layer}self_attn.{name}_proj", sliced
        elif part + "." in OPEN_CLIP_LAYER:
            yield layer + OPEN_CLIP_LAYER[part + "."].rstrip("."), ref


def _text_prefixes(target: TargetModel) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(kohya prefixes, dotted prefixes) of a text encoder's transformers names."""
    role = target.text_role
    if role == "te2":
        kohya: tuple[str, ...] = ("lora_te2_",)
        diffusers: tuple[str, ...] = ("text_encoder_2.",)
    elif role == "te1" or target.text_kind == "clip":
        kohya, diffusers = ("lora_te1_", "lora_te_"), ("text_encoder.",)
    else:  # a lone OpenCLIP (SD2, SDXL refiner): diffusers' refiner calls it text_encoder_2
        kohya, diffusers = ("lora_te_", "lora_te2_"), ("text_encoder.", "text_encoder_2.")
    comfy = (f"text_encoders.{target.name}.transformer.", f"{target.name}.transformer.")
    return kohya, (*diffusers, *comfy, "", "base_model.model.")


def _text_aliases(target: TargetModel, modules: dict[str, ModuleRef]) -> Iterator[Alias]:
    kohya, dotted = _text_prefixes(target)
    for stem, ref in modules.items():
        yield from _prefixed(("", target.checkpoint_prefix), stem, ref)
        hf_names = [(stem, ref)] if target.text_kind == "clip" else _open_clip_hf(stem, ref)
        for hf, hf_ref in hf_names:
            yield from ((prefix + _underscored(hf), hf_ref) for prefix in kohya)
            yield from _prefixed(dotted, hf, hf_ref)
            if match := _TEXT_ATTENTION.match(hf):
                processor = f"{match['base']}.to_{match['proj']}_lora"
                yield from _prefixed(dotted, processor, hf_ref)


def target_aliases(target: TargetModel) -> dict[str, ModuleRef]:
    """Every scheme's name for every module of ``target`` -> the module's parameters.

    Where two schemes spell different parameters alike, the later one wins: a bare
    ``text_projection`` is transformers' (transposed) rather than OpenCLIP's own.
    """
    modules = own_modules(target)
    if target.unet is not None:
        aliases: Iterator[Alias] = _unet_aliases(target, modules)
    elif target.text_kind is not None:
        aliases = _text_aliases(target, modules)
    else:
        aliases = (
            alias
            for stem, ref in modules.items()
            for alias in _prefixed(("", "base_model.model.", target.checkpoint_prefix), stem, ref)
        )
    return dict(aliases)


__all__ = ["ModuleRef", "ParamRef", "own_modules", "target_aliases"]
