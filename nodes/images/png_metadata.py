"""Encoding images as PNG with ComfyUI's metadata chunks.

One ``tEXt`` chunk with keyword ``prompt`` holding ``json.dumps`` of the API prompt, then one per
key of ``extra_pnginfo`` (normally ``workflow``) holding ``json.dumps`` of its value. ``json.dumps``
escapes non-ASCII, so every chunk is plain Latin-1 ``tEXt``. A PNG moves between ComfyUI and
Latentgraph and restores its workflow either way.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

SAVE_COMPRESS_LEVEL = 4
PREVIEW_COMPRESS_LEVEL = 1


def _plain(value: Any) -> Any:
    """Mappings that are not dicts (read-only views) as dicts, so ``json.dumps`` takes them."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def workflow_texts(prompt: Mapping[str, Any] | None,
                   extra_pnginfo: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"prompt": json.dumps(prompt), <extra key>: json.dumps(value), …}`` in that order: the
    texts ComfyUI stores with an output (PNG chunks, safetensors metadata)."""
    texts: dict[str, str] = {}
    if prompt is not None:
        texts["prompt"] = json.dumps(_plain(prompt))
    for key, value in (extra_pnginfo or {}).items():
        texts[str(key)] = json.dumps(_plain(value))
    return texts


def png_info(prompt: Mapping[str, Any] | None,
             extra_pnginfo: Mapping[str, Any] | None) -> PngInfo:
    """The ``tEXt`` chunks ComfyUI writes: ``prompt`` first, then each extra key in order."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(_plain(prompt)))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(str(key), json.dumps(_plain(value)))
    return info


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image (H, W, C) in [0, 1] as 8-bit Pillow, truncating as ComfyUI does."""
    if image.dim() != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"images: expected (H, W, 1|3|4) per image, got {tuple(image.shape)}"
        )
    pixels = np.clip(255.0 * image.detach().cpu().float().numpy(), 0, 255).astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = pixels[:, :, 0]  # (H, W): mode "L"
    return Image.fromarray(pixels)


def encode_png(image: torch.Tensor, info: PngInfo | None, compress_level: int) -> bytes:
    """PNG bytes of one image (H, W, C) with the given text chunks."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG", pnginfo=info, compress_level=compress_level)
    return buffer.getvalue()
