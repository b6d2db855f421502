"""One flat block of host memory that a component's converted tensors are carved from.

Upcasting an fp16/bf16 file to float32 on load writes every weight into fresh pages. Faulting those
in 4 KiB at a time dominates the load on a VM (each fault is also the host's); one anonymous map
per component, advised for transparent huge pages (``madvise`` mode here), takes them 2 MiB at a
time where the kernel can. The arena is sized for every tensor of the component, but only the
slots actually written become resident: tensors kept zero-copy from the file leave theirs
untouched. Each tensor is its own storage (as if allocated alone) that keeps the map alive; the
map is unmapped when the last of them is freed.
"""

from __future__ import annotations

import ctypes
import logging
import math
import mmap

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

HUGE_PAGE = 2 << 20
_SLOT_ALIGN = 64  # bytes: cache-line aligned tensors


def buffer_address(mapped: mmap.mmap) -> int:
    """The address of a writable map's first byte."""
    view = ctypes.c_char.from_buffer(mapped)
    try:
        return ctypes.addressof(view)
    finally:
        del view  # release the buffer export at once


class HostArena:
    """``take(shape, dtype)`` hands out consecutive, aligned, uninitialised tensors."""

    def __init__(self, nbytes: int, *, huge_pages: bool = True) -> None:
        if nbytes <= 0:
            raise ValueError(f"nbytes={nbytes} must be positive")
        size = nbytes + HUGE_PAGE + _SLOT_ALIGN
        self._map = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.huge_pages = False
        if huge_pages and hasattr(mmap, "MADV_HUGEPAGE"):
            try:
                self._map.madvise(mmap.MADV_HUGEPAGE)
                self.huge_pages = True
            except OSError as exc:  # THP disabled or not supported here
                logger.debug("no huge pages for the load arena: %s", exc)
        self._offset = -buffer_address(self._map) % HUGE_PAGE
        self.capacity = size

    @property
    def used(self) -> int:
        return self._offset

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        count = math.prod(shape)
        start = -(-self._offset // _SLOT_ALIGN) * _SLOT_ALIGN
        end = start + count * dtype.itemsize
        if end > self.capacity:
            raise ValueError(f"arena of {self.capacity} bytes cannot hold {shape} {dtype} "
                             f"at offset {start}")
        self._offset = end
        if count == 0:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(self._map, dtype=dtype, count=count, offset=start).view(shape)


__all__ = ["HUGE_PAGE", "HostArena", "buffer_address"]
