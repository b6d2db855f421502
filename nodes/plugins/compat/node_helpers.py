"""ComfyUI's ``node_helpers`` for node packs: ``conditioning_set_values`` (new conditioning
entries with options set; the input is not modified), ``pillow`` (a PIL call retried with
truncated images allowed), ``hasher`` and ``string_to_torch_dtype``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import torch


def conditioning_set_values(conditioning: list[Any], values: Mapping[str, Any] | None = None,
                            append: bool = False) -> list[Any]:
    """Each ``[tensor, options]`` entry with ``values`` set in a copy of its options (with
    ``append``, list values are appended to the entry's existing list)."""
    out = []
    for tensor, options in conditioning:
        new = dict(options)
        for key, value in (values or {}).items():
            if append and isinstance(new.get(key), list):
                new[key] = [*new[key], *value]
            else:
                new[key] = value
        out.append([tensor, new])
    return out


def pillow(fn: Callable[..., Any], arg: Any) -> Any:
    from PIL import Image, ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        return fn(arg)
    except (OSError, SyntaxError, Image.DecompressionBombError):
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return fn(arg)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def hasher() -> Callable[[], Any]:
    return hashlib.sha256


def string_to_torch_dtype(string: str) -> torch.dtype | None:
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(string)


def image_alpha_fix(destination: torch.Tensor, source: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    if destination.shape[-1] < source.shape[-1]:
        source = source[..., :destination.shape[-1]]
    elif destination.shape[-1] > source.shape[-1]:
        pad = torch.ones((*source.shape[:-1], destination.shape[-1] - source.shape[-1]))
        source = torch.cat([source, pad.to(source)], dim=-1)
    return destination, source
