"""``guess_family``: which model family a LoRA was trained for, from its names and shapes.

Used to explain a LoRA that maps onto nothing ("it looks like an SDXL LoRA"). Evidence, in order:
names only SDXL files use (a second text encoder), then widths: the input width of a UNet
cross-attention key/value projection is the family's context width (768 SD1, 1024 SD2, 2048
SDXL, 1280 SDXL refiner), and that of a text-encoder projection its width (768 CLIP-L,
1024 OpenCLIP-H).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from diffusion.patching.lora.formats import Adapter
from diffusion.unet.config import Family

_SDXL_NAMES = re.compile(
    r"^(lora_te2_|text_encoder_2\.|text_encoders\.clip_g\.|conditioner\.embedders\.1\.)"
)
_CROSS_KV = re.compile(r"attn2[._](processor[._])?to_[kv]")
_TEXT_Q = re.compile(r"^(lora_te1?_|text_encoder\.|text_encoders\.clip_[lh]\.).*q_proj$")
_CONTEXT: dict[int, Family] = {768: "sd1", 1024: "sd2", 2048: "sdxl", 1280: "sdxl_refiner"}
_TEXT_WIDTH: dict[int, Family] = {768: "sd1", 1024: "sd2"}
FAMILY_NAMES: dict[Family, str] = {
    "sd1": "SD1.x",
    "sd2": "SD2.x",
    "sdxl": "SDXL",
    "sdxl_refiner": "SDXL refiner",
}


def _in_width(adapter: Adapter) -> int | None:
    shape = adapter.delta.shape
    return shape[1] if len(shape) == 2 else None


def _vote(
    adapters: Iterable[Adapter], pattern: re.Pattern[str], table: dict[int, Family]
) -> Family | None:
    for adapter in adapters:
        if adapter.target == "weight" and pattern.search(adapter.stem):
            found = table.get(_in_width(adapter) or -1)
            if found is not None:
                return found
    return None


def guess_family(adapters: tuple[Adapter, ...]) -> Family | None:
    """sd1 / sd2 / sdxl / sdxl_refiner as far as the adapters tell; None when they do not."""
    if any(_SDXL_NAMES.match(adapter.stem) for adapter in adapters):
        return "sdxl"
    return _vote(adapters, _CROSS_KV, _CONTEXT) or _vote(adapters, _TEXT_Q, _TEXT_WIDTH)


__all__ = ["FAMILY_NAMES", "guess_family"]
