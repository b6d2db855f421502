"""A streaming ``.safetensors`` writer: the header from shapes and dtypes, then tensor by tensor.

The header (every key's dtype, shape and byte range) is computed from :class:`TensorEntry`
declarations before any tensor exists; then each tensor is written as it is produced and dropped.
The writer never holds more than the one tensor it is writing, and a contiguous CPU tensor is
written straight from its storage (no copy). A tensor that does not match its declaration
(key, shape or dtype, in header order) is refused with both named, so a file is never written
with a header that lies about its contents.

Layout follows the safetensors format: an 8-byte little-endian header length, the JSON header
(``__metadata__`` of string pairs plus one entry per tensor), padded with spaces to a multiple of
8 bytes, then the tensors' bytes in header order with no gaps. :func:`aligned_order` puts wider
dtypes first so that every tensor's offset is a multiple of its element size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import torch
from torch import Tensor

DTYPE_NAMES: dict[torch.dtype, str] = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a file, declared before it exists."""

    key: str
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def aligned_order(entries: Iterable[TensorEntry]) -> list[TensorEntry]:
    """``entries`` with wider dtypes first (stable otherwise): every offset stays aligned."""
    return sorted(entries, key=lambda entry: -entry.dtype.itemsize)


def header_bytes(entries: Sequence[TensorEntry], metadata: Mapping[str, str] | None) -> bytes:
    """The length prefix and the padded JSON header for ``entries`` in this order."""
    header: dict[str, object] = {}
    if metadata:
        bad = {k: type(v).__name__ for k, v in metadata.items()
               if not isinstance(k, str) or not isinstance(v, str)}
        if bad:
            raise TypeError(f"safetensors metadata must map str to str; got {bad}")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for entry in entries:
        if entry.dtype not in DTYPE_NAMES:
            raise TypeError(f"tensor {entry.key!r}: dtype {entry.dtype} has no safetensors name")
        if entry.key in header or entry.key == "__metadata__":
            raise ValueError(f"tensor key {entry.key!r} is declared twice (or reserved)")
        header[entry.key] = {"dtype": DTYPE_NAMES[entry.dtype], "shape": list(entry.shape),
                             "data_offsets": [offset, offset + entry.nbytes]}
        offset += entry.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def tensor_bytes(tensor: Tensor) -> memoryview:
    """The raw bytes of ``tensor`` (moved to the CPU if needed; a contiguous CPU tensor is not
    copied)."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)  # (N,)
    return flat.view(torch.uint8).numpy().data  # (N * element size,) bytes, shared


def _check(entry: TensorEntry, key: str, tensor: Tensor) -> None:
    if key != entry.key:
        raise ValueError(f"tensor {key!r} arrived where the header declares {entry.key!r}")
    if tuple(tensor.shape) != entry.shape or tensor.dtype != entry.dtype:
        raise ValueError(f"tensor {key!r} is {tensor.dtype} {tuple(tensor.shape)}; the header "
                         f"declares {entry.dtype} {entry.shape}")


def write_safetensors(out: BinaryIO, entries: Sequence[TensorEntry],
                      tensors: Iterable[tuple[str, Tensor]],
                      metadata: Mapping[str, str] | None = None) -> int:
    """Writes the header for ``entries``, then each ``(key, tensor)`` of ``tensors`` in the same
    order; returns the bytes written. ``tensors`` may be a generator producing one at a time."""
    written = out.write(header_bytes(entries, metadata))
    position = 0
    for key, tensor in tensors:
        if position >= len(entries):
            raise ValueError(f"tensor {key!r} is not declared in the header")
        _check(entries[position], key, tensor)
        written += out.write(tensor_bytes(tensor))
        position += 1
        del tensor  # hold no tensor while the producer makes the next one
    if position != len(entries):
        raise ValueError(f"{len(entries) - position} declared tensors were never produced "
                         f"(first {entries[position].key!r})")
    return written


__all__ = ["DTYPE_NAMES", "TensorEntry", "aligned_order", "header_bytes", "tensor_bytes",
           "write_safetensors"]
