"""Model memory: light handles for models, weights loaded on demand under a byte budget.

Nodes pass ``ModelHandle`` objects around (and the output cache keeps them): a handle names one
component of one file and holds no weights (``nbytes == 0``). ``ModelManager.use(handle)`` makes
the component resident on the compute device, loading it from its file if needed, and keeps the
resident set under ``budget_bytes`` by evicting the least recently used component that is not in
use: to host memory when computing on an accelerator (``offload="host"``), otherwise dropped and
re-read from its file on the next use. A file is identified by path + size + mtime, so the same
unchanged file is opened (header parsed, layout detected) and each component read only once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import torch
from torch import nn

from diffusion.dtypes import compute_dtype, needs_attention_upcast, set_attention_upcast
from diffusion.loading.checkpoint import open_checkpoint

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileKey:
    """Identity of a model file's contents as far as cheaply knowable: path, size, mtime."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | Path) -> FileKey:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        return cls(str(resolved), stat.st_size, stat.st_mtime_ns)


class ComponentSource(Protocol):
    """What the manager needs from an opened file (``OpenedCheckpoint`` fits)."""

    def prefixes(self) -> dict[str, str]: ...

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32) -> int: ...

    def load(self, name: str, *, dtype: torch.dtype = torch.float32) -> nn.Module: ...


@dataclass(frozen=True, eq=False)
class ModelHandle:
    """A light, cacheable reference to component ``component`` of file ``key``."""

    manager: ModelManager
    key: FileKey
    component: str
    opened: ComponentSource

    nbytes = 0  # holds no weights: the output cache must not count them

    def use(self) -> AbstractContextManager[nn.Module]:
        return self.manager.use(self)


@dataclass
class _Resident:
    module: nn.Module
    nbytes: int
    on_device: bool
    pins: int = 0


def module_nbytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


class ModelManager:
    """Loads components on demand and keeps those on the compute device under ``budget_bytes``."""

    def __init__(
        self,
        *,
        budget_bytes: int,
        device: torch.device | str = "cpu",
        offload: Literal["host", "drop"] | None = None,
        dtype: torch.dtype | Callable[[ModelHandle], torch.dtype] = torch.float32,
        opener: Callable[[Path], ComponentSource] = open_checkpoint,
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes={budget_bytes} must be positive")
        self.budget_bytes = budget_bytes
        self.device = torch.device(device)
        self.offload = offload or ("drop" if self.device.type == "cpu" else "host")
        if self.offload == "host" and self.device.type == "cpu":
            raise ValueError("offload='host' needs a non-CPU device; on CPU use offload='drop'")
        self.dtype = dtype
        self._opener = opener
        self._opened: dict[FileKey, dict[str, ModelHandle]] = {}
        self._resident: OrderedDict[ModelHandle, _Resident] = OrderedDict()  # LRU first
        self._lock = threading.RLock()
        self.loads = 0  # components read from files, for tests and logs

    def open(self, path: str | Path) -> dict[str, ModelHandle]:
        """Handles for every component of ``path``; the same handles while the file is unchanged."""
        key = FileKey.of(path)
        with self._lock:
            if key not in self._opened:
                self._forget_stale(key)
                opened = self._opener(Path(key.path))
                self._opened[key] = {
                    name: ModelHandle(self, key, name, opened) for name in opened.prefixes()
                }
            return self._opened[key]

    def _forget_stale(self, key: FileKey) -> None:
        """Drops handles and weights of earlier versions of the same path."""
        for old in [k for k in self._opened if k.path == key.path]:
            for handle in self._opened.pop(old).values():
                self._resident.pop(handle, None)

    @property
    def device_bytes(self) -> int:
        return sum(r.nbytes for r in self._resident.values() if r.on_device)

    def resident(self) -> list[tuple[str, str, bool]]:
        """(path, component, on device) of resident components, least recently used first."""
        return [(h.key.path, h.component, r.on_device) for h, r in self._resident.items()]

    @contextmanager
    def use(self, handle: ModelHandle) -> Iterator[nn.Module]:
        """The component on the compute device, pinned (never evicted) until the block exits."""
        with self._lock:
            entry = self._ensure_on_device(handle)
            entry.pins += 1
        try:
            yield entry.module
        finally:
            with self._lock:
                entry.pins -= 1

    def _ensure_on_device(self, handle: ModelHandle) -> _Resident:
        if handle.manager is not self:
            raise ValueError(f"handle for {handle.key.path!r} belongs to another ModelManager")
        entry = self._resident.get(handle)
        if entry is None:
            on_cpu = self.device.type == "cpu"
            dtype = self.dtype(handle) if callable(self.dtype) else self.dtype
            if on_cpu:  # loading lands on the compute device itself: make room first
                self._make_room(handle.opened.nbytes(handle.component, dtype=dtype), handle)
            module = handle.opened.load(handle.component, dtype=dtype)
            family = handle_family(handle)
            if family is not None and needs_attention_upcast(family, dtype):
                set_attention_upcast(module, True)
            self.loads += 1
            logger.info("read %s from %s", handle.component, handle.key.path)
            entry = _Resident(module, module_nbytes(module), on_device=on_cpu)
            self._resident[handle] = entry
        self._resident.move_to_end(handle)
        if not entry.on_device:
            self._make_room(entry.nbytes, handle)
            entry.module.to(self.device)
            entry.on_device = True
        return entry

    def unload_all(self) -> int:
        """Drop the weights of every component not in use (``POST /free``); handles stay
        valid and re-read their file when next used. Returns how many were dropped."""
        with self._lock:
            idle = [h for h, entry in self._resident.items() if not entry.pins]
            for handle in idle:
                del self._resident[handle]
        logger.info("unloaded %d idle model components", len(idle))
        return len(idle)

    def _make_room(self, incoming: int, keep: ModelHandle) -> None:
        """Evicts unpinned LRU components until the device holds ``incoming`` more bytes."""
        for handle in list(self._resident):
            if self.device_bytes + incoming <= self.budget_bytes:
                return
            entry = self._resident[handle]
            if handle is keep or entry.pins or not entry.on_device:  # in use, or on host
                continue
            if self.offload == "host":
                entry.module.to("cpu")
                entry.on_device = False
            else:
                del self._resident[handle]
            logger.info("evicted %s of %s (%s)", handle.component, handle.key.path, self.offload)
        if self.device_bytes + incoming > self.budget_bytes:
            logger.warning(
                "budget %d bytes exceeded (%d in use by pinned models + %d incoming)",
                self.budget_bytes,
                self.device_bytes,
                incoming,
            )


__all__ = ["ComponentSource", "FileKey", "ModelHandle", "ModelManager", "module_nbytes"]


def handle_family(handle: ModelHandle) -> str | None:
    """The family of the file a handle points into, when its opener knows it."""
    layout = getattr(handle.opened, "layout", None)
    return getattr(layout, "family", None)


def device_dtype_policy(
    device: torch.device | str, *, prefer_bf16: bool = False
) -> Callable[[ModelHandle], torch.dtype]:
    """Per-component dtypes for ``device`` (fp32 on CPU; see ``diffusion.dtypes``)."""

    def policy(handle: ModelHandle) -> torch.dtype:
        family = handle_family(handle) or ""
        return compute_dtype(device, handle.component, family, prefer_bf16=prefer_bf16)

    return policy
