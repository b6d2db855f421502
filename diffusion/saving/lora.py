"""A LoRA extracted from a resident module, as a streamed :class:`Part` of a file.

The file's entries are planned from the module's tensor shapes alone; the factors are computed
(one SVD per weight) only while the file is written, and each is dropped once written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor

from diffusion.patching.extract import (
    CLAMP_QUANTILE,
    LoraItem,
    LoraType,
    lora_entries,
    lora_tensors,
    plan_lora,
)
from diffusion.saving.parts import Part, Views
from diffusion.saving.stream import TensorEntry

LORA_DTYPE = torch.float16  # ComfyUI's LoraSave stores every tensor as fp16


def lora_part(open_module: Callable[[], AbstractContextManager[Any]], views: Views, prefix: str,
              rank: int, lora_type: LoraType, bias_diff: bool, *,
              dtype: torch.dtype = LORA_DTYPE,
              clamp_quantile: float | None = CLAMP_QUANTILE) -> Part:
    """The LoRA of the weights ``views(module)`` names, under ``prefix`` (e.g.
    ``diffusion_model.``); see ``diffusion.patching.extract`` for what each weight becomes."""

    def items(module: Any) -> list[LoraItem]:
        shapes = {key: tuple(t.shape) for key, t in views(module)}
        return plan_lora(shapes, prefix, lora_type, bias_diff)

    def entries(module: Any) -> list[TensorEntry]:
        return lora_entries(items(module), rank, dtype)

    def tensors(module: Any, wanted: Sequence[TensorEntry]) -> Iterator[tuple[str, Tensor]]:
        keys = {entry.key for entry in wanted}
        weights = dict(views(module))  # views of the module's tensors: no copies
        produced = lora_tensors(items(module), weights, rank, dtype,
                                clamp_quantile=clamp_quantile)
        return ((key, tensor) for key, tensor in produced if key in keys)

    return Part(open_module, entries, tensors)


__all__ = ["LORA_DTYPE", "lora_part"]
