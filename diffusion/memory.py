"""Model memory: light handles for models, weights loaded on demand under a byte budget.

Nodes pass ``ModelHandle`` objects around (and the output cache keeps them): a handle names one
component of one file and holds no weights (``nbytes == 0``). ``ModelManager.use(handle)`` makes
the component resident on the compute device, loading it from its file if needed, and keeps the
resident set under ``budget_bytes`` by evicting the least recently used component that is not in
use: to host memory when computing on an accelerator (``offload="host"``), otherwise dropped and
re-read from its file on the next use. A file is identified by path + size + mtime, so the same
unchanged file is opened (header parsed, layout detected) and each component read only once.

``use(handle, patches)`` with a non-empty ``PatchSet`` yields a patched copy of the component
(``diffusion.patching.patched_copy``): residency is keyed by (handle, ``patches.digest``), the copy
is built once while it stays resident, and it shares every unpatched tensor with its base, which
is never modified (an unpatched user never sees patched weights). A patched entry counts only its
own patched bytes and depends on its base: using it pins the base too, and evicting, offloading
or dropping the base first drops its idle patched copies (they are rebuilt on the next use rather
than offloaded, since moving one would move the base's shared tensors with it).

Storage: with ``keep_half`` (per handle; the CPU default, ``diffusion.dtypes.keeps_half``) a
component whose file holds fp16/bf16 weights keeps them as read — memory-mapped, file-backed,
half the bytes of float32 — and upcasts them per layer as it computes
(``diffusion.weight_cast``); dropping such a component costs nothing to undo while the file stays
in the page cache. ``sampling_idle_bytes`` (None: off) releases idle components (text encoders,
the VAE, other UNets, idle patched copies) when a UNet is taken for sampling, least recently used
first, until the idle ones hold at most that many bytes: dropped on CPU, offloaded to the host on
an accelerator. Taking any other component (a text encoder, a VAE) does the same for the idle
components of *other* files only: an SDXL refiner's UNet is released when the base's VAE decodes
(``benchmarks/txt2img.py --memory --pipeline sdxl-refiner``), while a job on one checkpoint keeps
all of that checkpoint's components from job to job.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Protocol, cast

import torch
from torch import nn

from diffusion.dtypes import compute_dtype, needs_attention_upcast, set_attention_upcast
from diffusion.loading.checkpoint import open_checkpoint
from diffusion.patching import PatchSet, patched_copy, patched_nbytes

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


SAMPLED_COMPONENTS = frozenset({"unet"})  # taking one of these starts a sampling phase


class ComponentSource(Protocol):
    """What the manager needs from an opened file (``OpenedCheckpoint`` fits). Sources whose
    ``supports_keep_half`` is true also take ``keep_half=`` in ``nbytes`` and ``load``."""

    def prefixes(self) -> dict[str, str]: ...

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32) -> int: ...

    def load(self, name: str, *, dtype: torch.dtype = torch.float32) -> nn.Module: ...


class HalfStorageSource(ComponentSource, Protocol):
    """A source that can keep fp16/bf16 weights as stored (``supports_keep_half``)."""

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32,
               keep_half: bool = False) -> int: ...

    def load(self, name: str, *, dtype: torch.dtype = torch.float32,
             keep_half: bool = False) -> nn.Module: ...


@dataclass(frozen=True, eq=False)
class ModelHandle:
    """A light, cacheable reference to component ``component`` of file ``key``."""

    manager: ModelManager
    key: FileKey
    component: str
    opened: ComponentSource

    nbytes = 0  # holds no weights: the output cache must not count them

    def use(self, patches: PatchSet = PatchSet.EMPTY) -> AbstractContextManager[nn.Module]:
        return self.manager.use(self, patches)


@dataclass
class _Resident:
    module: nn.Module
    nbytes: int  # a patched copy: its patched tensors only (the rest are its base's)
    on_device: bool
    pins: int = 0


class _Key(NamedTuple):
    handle: ModelHandle
    digest: str  # "" for the component as read from its file


class ResidentEntry(NamedTuple):
    """One resident module: a component (``digest == ""``) or a patched copy of one."""

    path: str
    component: str
    digest: str
    on_device: bool
    nbytes: int


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
        keep_half: bool | Callable[[ModelHandle], bool] = False,
        sampling_idle_bytes: int | None = None,
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes={budget_bytes} must be positive")
        if sampling_idle_bytes is not None and sampling_idle_bytes < 0:
            raise ValueError(f"sampling_idle_bytes={sampling_idle_bytes} must be >= 0 or None")
        self.budget_bytes = budget_bytes
        self.device = torch.device(device)
        self.offload = offload or ("drop" if self.device.type == "cpu" else "host")
        if self.offload == "host" and self.device.type == "cpu":
            raise ValueError("offload='host' needs a non-CPU device; on CPU use offload='drop'")
        self.dtype = dtype
        self.keep_half = keep_half
        self.sampling_idle_bytes = sampling_idle_bytes
        self._opener = opener
        self._opened: dict[FileKey, dict[str, ModelHandle]] = {}
        self._resident: OrderedDict[_Key, _Resident] = OrderedDict()  # LRU first
        self._lock = threading.RLock()
        self.loads = 0  # components read from files, for tests and logs
        self.patched_copies = 0  # patched copies built, for tests and logs

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
        """Drops handles and weights (patched copies included) of earlier versions of the path."""
        for old in [k for k in self._opened if k.path == key.path]:
            stale = set(self._opened.pop(old).values())
            for resident_key in [k for k in self._resident if k.handle in stale]:
                del self._resident[resident_key]

    @property
    def device_bytes(self) -> int:
        return sum(r.nbytes for r in self._resident.values() if r.on_device)

    def resident(self) -> list[tuple[str, str, bool]]:
        """(path, component, on device) of resident modules, least recently used first; a
        patched copy is listed as its own entry (``resident_entries`` tells them apart)."""
        return [(e.path, e.component, e.on_device) for e in self.resident_entries()]

    def resident_entries(self) -> list[ResidentEntry]:
        """Every resident module with its patch digest and bytes, least recently used first."""
        with self._lock:
            return [
                ResidentEntry(
                    k.handle.key.path, k.handle.component, k.digest, r.on_device, r.nbytes
                )
                for k, r in self._resident.items()
            ]

    @contextmanager
    def use(self, handle: ModelHandle, patches: PatchSet = PatchSet.EMPTY) -> Iterator[nn.Module]:
        """The component on the compute device with ``patches`` applied (a shared patched copy;
        the component itself when ``patches`` is empty), pinned until the block exits."""
        if not isinstance(patches, PatchSet):
            raise TypeError(f"patches must be a PatchSet, got {type(patches).__name__}")
        with self._lock:
            entries = self._acquire(handle, patches)
        try:
            yield entries[-1].module
        finally:
            with self._lock:
                for entry in entries:
                    entry.pins -= 1

    def _acquire(self, handle: ModelHandle, patches: PatchSet) -> list[_Resident]:
        """Pins the base and, with patches, its patched copy (which keeps the base pinned)."""
        if self.sampling_idle_bytes is not None:
            other_files = handle.component not in SAMPLED_COMPONENTS
            self._release_idle(handle, self.sampling_idle_bytes, other_files=other_files)
        base = self._ensure_on_device(handle)
        base.pins += 1
        if not patches:
            return [base]
        try:
            patched = self._ensure_patched(handle, patches, base)
        except BaseException:
            base.pins -= 1
            raise
        patched.pins += 1
        return [base, patched]

    def _ensure_on_device(self, handle: ModelHandle) -> _Resident:
        if handle.manager is not self:
            raise ValueError(f"handle for {handle.key.path!r} belongs to another ModelManager")
        key = _Key(handle, "")
        entry = self._resident.get(key)
        if entry is None:
            entry = self._load(key)
            self._resident[key] = entry
        self._resident.move_to_end(key)
        if not entry.on_device:
            self._make_room(entry.nbytes, key)
            entry.module.to(self.device)
            entry.on_device = True
        return entry

    def _keeps_half(self, handle: ModelHandle) -> bool:
        keep = self.keep_half(handle) if callable(self.keep_half) else self.keep_half
        return keep and getattr(handle.opened, "supports_keep_half", False)

    def _load(self, key: _Key) -> _Resident:
        handle = key.handle
        on_cpu = self.device.type == "cpu"
        dtype = self.dtype(handle) if callable(self.dtype) else self.dtype
        opened, name = handle.opened, handle.component
        keep = self._keeps_half(handle)
        half = cast(HalfStorageSource, opened)
        if on_cpu:  # loading lands on the compute device itself: make room first
            incoming = (half.nbytes(name, dtype=dtype, keep_half=True) if keep
                        else opened.nbytes(name, dtype=dtype))
            self._make_room(incoming, key)
        module = (half.load(name, dtype=dtype, keep_half=True) if keep
                  else opened.load(name, dtype=dtype))
        family = handle_family(handle)
        if family is not None and needs_attention_upcast(family, dtype):
            set_attention_upcast(module, True)
        self.loads += 1
        logger.info("read %s from %s", handle.component, handle.key.path)
        return _Resident(module, module_nbytes(module), on_device=on_cpu)

    def _ensure_patched(
        self, handle: ModelHandle, patches: PatchSet, base: _Resident
    ) -> _Resident:
        """The resident patched copy of ``base`` (pinned, on device), built if not resident."""
        key = _Key(handle, patches.digest)
        entry = self._resident.get(key)
        if entry is None:
            self._make_room(patched_nbytes(base.module, patches), key)
            module, nbytes = patched_copy(base.module, patches)
            entry = _Resident(module, nbytes, on_device=True)
            self._resident[key] = entry
            self.patched_copies += 1
            logger.info("patched %s of %s with %r (%d bytes)", handle.component,
                        handle.key.path, patches, nbytes)
        self._resident.move_to_end(key)
        return entry

    def unload_all(self) -> int:
        """Drop the weights of every component and patched copy not in use (``POST /free``);
        handles stay valid and re-read their file when next used. Returns how many were dropped.
        A patched copy in use keeps its base pinned, so no idle base has a copy in use."""
        with self._lock:
            idle = [key for key, entry in self._resident.items() if not entry.pins]
            for key in idle:
                del self._resident[key]
        logger.info("unloaded %d idle models (components and patched copies)", len(idle))
        return len(idle)

    def _release_idle(self, taken: ModelHandle, allowance: int, *,
                      other_files: bool = False) -> None:
        """Evicts idle modules (LRU first, not ``taken``'s own) until they hold ``allowance``
        bytes or fewer: the start of a sampling phase — or, with ``other_files``, of a phase
        on ``taken``'s file (encoding or decoding with it), counting only other files' modules,
        so a job on one checkpoint never evicts that checkpoint's own components."""
        def idle() -> list[tuple[_Key, _Resident]]:
            return [(k, r) for k, r in self._resident.items()
                    if not r.pins and r.on_device and k.handle is not taken
                    and not (other_files and k.handle.key == taken.key)]

        for key, entry in idle():
            if sum(r.nbytes for _, r in idle()) <= allowance:
                return
            if self._resident.get(key) is entry:  # not dropped above as a patched dependent
                self._evict(key, entry)

    def _make_room(self, incoming: int, keep: _Key) -> None:
        """Evicts unpinned LRU modules until the device holds ``incoming`` more bytes."""
        for key in list(self._resident):
            if self.device_bytes + incoming <= self.budget_bytes:
                return
            entry = self._resident.get(key)  # None: dropped above as a patched dependent
            if entry is None or key == keep or entry.pins or not entry.on_device:
                continue  # in use, or on host
            self._evict(key, entry)
        if self.device_bytes + incoming > self.budget_bytes:
            logger.warning(
                "budget %d bytes exceeded (%d in use by pinned models + %d incoming)",
                self.budget_bytes,
                self.device_bytes,
                incoming,
            )

    def _evict(self, key: _Key, entry: _Resident) -> None:
        """Offloads or drops an unpinned base (its idle patched copies are dropped first: they
        share its tensors), or drops an unpinned patched copy."""
        how = "dropped"
        if key.digest:
            del self._resident[key]
        else:
            for dependent in [k for k in self._resident if k.handle is key.handle and k.digest]:
                del self._resident[dependent]  # unpinned: a pinned copy keeps its base pinned
            if self.offload == "host":
                entry.module.to("cpu")
                entry.on_device = False
                how = "host"
            else:
                del self._resident[key]
        patched = f" patched {key.digest[:12]}" if key.digest else ""
        logger.info("evicted %s%s of %s (%s)", key.handle.component, patched,
                    key.handle.key.path, how)


__all__ = [
    "ComponentSource",
    "FileKey",
    "ModelHandle",
    "ModelManager",
    "ResidentEntry",
    "module_nbytes",
]


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
