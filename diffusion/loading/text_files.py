"""Standalone text-encoder files (ComfyUI's ``models/clip`` / ``models/text_encoders``).

Accepted layouts:
- transformers ``CLIPTextModel`` / ``CLIPTextModelWithProjection`` keys (``text_model.…``, or
  the flattened 5.x form without it) — how ``clip_l.safetensors``, ``clip_g.safetensors`` and
  diffusers ``text_encoder*/`` weights are published;
- OpenCLIP keys (``transformer.resblocks.…``, ``token_embedding.weight``);
- a single-file checkpoint: the text tower at one of the family prefixes.

Which encoder a file holds is read from its width (768 CLIP-L, 1024 ViT-H, 1280 bigG) unless
``name`` says so (narrowed test models).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from diffusion.loading.checkpoint import check_layout, load_into
from diffusion.loading.detect import TEXT_SLOTS, TextSlot, detect_text
from diffusion.loading.diffusers_folder import MappedSource, add_clip, add_open_clip
from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import TensorFile, TensorSource, read_tensor_file
from diffusion.text.clip import CLIPTextModel, OpenCLIPTextModel, TextEncoderConfig

WIDTH_TO_NAME = {768: "clip_l", 1024: "clip_h", 1280: "clip_g"}
# The slot whose key prefix and conventions a standalone encoder of each name is read with.
NAME_TO_SLOT: dict[str, TextSlot] = {
    "clip_l": TEXT_SLOTS["sd1"][0],
    "clip_h": TEXT_SLOTS["sd2"][0],
    "clip_g": TEXT_SLOTS["sdxl"][1],
}
_HF_TOKEN_KEYS = ("text_model.embeddings.token_embedding.weight",
                  "embeddings.token_embedding.weight")


@dataclass(frozen=True)
class TextEncoderFile:
    """A text encoder read from its own file: which one, its config and the module."""

    name: str  # "clip_l" | "clip_h" | "clip_g"
    config: TextEncoderConfig
    module: nn.Module


def _name_from_width(file: TensorFile, width: int, name: str | None) -> str:
    if name is not None:
        if name not in NAME_TO_SLOT:
            raise ValueError(f"unknown text encoder name {name!r}; choose one of "
                             f"{sorted(NAME_TO_SLOT)}")
        return name
    if width not in WIDTH_TO_NAME:
        raise UnknownModelError(
            f"{file.path}: text encoder width {width} is none of CLIP-L (768), ViT-H (1024) "
            f"or bigG (1280); pass the encoder name"
        )
    return WIDTH_TO_NAME[width]


def _single_file_source(file: TensorFile, name: str | None) -> tuple[TensorSource, str] | None:
    found = {slot.name: slot for slots in TEXT_SLOTS.values() for slot in slots
             if any(k.startswith(slot.prefix) for k in file.shapes)}
    if not found:
        return None
    if name is None and len(found) > 1:
        raise UnknownModelError(
            f"{file.path}: holds several text encoders {sorted(found)}; pick one by name"
        )
    chosen = name or next(iter(found))
    if chosen not in found:
        raise UnknownModelError(f"{file.path}: has no {chosen!r} text encoder; has {sorted(found)}")
    slot = found[chosen]
    source = MappedSource(file.path, metadata=dict(file.metadata))
    target = NAME_TO_SLOT[chosen].prefix
    for key, shape in file.shapes.items():
        if key.startswith(slot.prefix):
            source.add(target + key[len(slot.prefix):], shape, lambda k=key: file.get(k))
    return source, chosen


def _text_source(file: TensorFile, name: str | None) -> tuple[TensorSource, str]:
    single = _single_file_source(file, name)
    if single is not None:
        return single
    source = MappedSource(file.path, metadata=dict(file.metadata))
    hf_token = next((k for k in _HF_TOKEN_KEYS if k in file.shapes), None)
    if hf_token is not None:
        chosen = _name_from_width(file, file.shapes[hf_token][1], name)
        slot = NAME_TO_SLOT[chosen]
        (add_clip if slot.kind == "clip" else add_open_clip)(source, file, slot.prefix)
        return source, chosen
    if "token_embedding.weight" in file.shapes:
        chosen = _name_from_width(file, file.shapes["token_embedding.weight"][1], name)
        prefix = NAME_TO_SLOT[chosen].prefix
        for key, shape in file.shapes.items():
            source.add(prefix + key, shape, lambda k=key: file.get(k))
        return source, chosen
    raise UnknownModelError(f"{file.path}: no text-encoder keys (text_model.* / "
                            f"token_embedding / a checkpoint text prefix) found")


def load_text_encoder(
    path: str | Path, *, name: str | None = None, dtype: torch.dtype = torch.float32
) -> TextEncoderFile:
    """A CLIP-L, ViT-H or bigG text encoder from a standalone file (see the module doc)."""
    file = read_tensor_file(path)
    source, chosen = _text_source(file, name)
    slot = NAME_TO_SLOT[chosen]
    config = detect_text(source.shapes, slot)
    with torch.device("meta"):
        module = CLIPTextModel(config) if slot.kind == "clip" else OpenCLIPTextModel(config)
    expected = {slot.prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: v for k, v in source.shapes.items() if k.startswith(slot.prefix)}
    check_layout(file.path, found, expected)
    load_into({slot.prefix: module}, source, dtype)
    return TextEncoderFile(chosen, config, module)
