"""Reading tensors from ``.safetensors`` and weights-only ``.ckpt`` / ``.pt`` files."""

from __future__ import annotations

import json
import logging
import math
import mmap
import pickle
import struct
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from diffusion.loading.arena import buffer_address
from diffusion.loading.errors import (
    CheckpointError,
    TruncatedCheckpointError,
    UnsupportedCheckpointFormatError,
)

logger = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
_HEADER_LIMIT = 100 * 1024 * 1024
_ST_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


class TensorSource(Protocol):
    """Anything ``load_checkpoint`` can read: shapes, metadata and tensors under LDM keys."""

    path: Path
    shapes: dict[str, tuple[int, ...]]
    metadata: dict[str, str]

    def tensors(self, keys: list[str] | None = None) -> Iterator[tuple[str, Tensor]]: ...


@dataclass(frozen=True)
class _Span:
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # absolute byte offset in the file
    end: int


MADV_POPULATE_READ = 22  # Linux >= 5.14: fault a range in, read-only, in one call
_PAGE = mmap.PAGESIZE


@dataclass
class TensorFile:
    """A checkpoint's tensor shapes, its string metadata and a way to read the tensors.

    Safetensors are read zero-copy from a private (copy-on-write) memory map: converting to
    another dtype allocates once, and same-dtype tensors stay file-backed pages (written to, a
    page becomes a private copy; the file never changes). The map lives as long as a tensor
    views it: this object holds it only weakly, so once every tensor read from it is freed (a
    component converted on load, or dropped) its pages leave the process. Each ``tensors`` call
    (one component's load) maps the file anew: a dropped component's pages leave the process
    even while another component of the same file (its VAE, say) stays loaded, since pages a
    map has faulted in count as the process's until the whole map is unmapped.
    """

    path: Path
    shapes: dict[str, tuple[int, ...]]
    metadata: dict[str, str] = field(default_factory=dict)
    _tensors: dict[str, Tensor] | None = None
    _spans: dict[str, _Span] = field(default_factory=dict)
    _map_ref: weakref.ref[mmap.mmap] | None = None

    def tensors(self, keys: list[str] | None = None) -> Iterator[tuple[str, Tensor]]:
        """Yields (key, tensor) one at a time, so callers can convert and place each in turn."""
        mapped = self._mapping(fresh=True)  # held for the whole iteration: mapped once
        for key in list(self.shapes) if keys is None else keys:
            yield key, self._read(mapped, key)

    def get(self, key: str) -> Tensor:
        return self._read(self._mapping(), key)

    def dtype_of(self, key: str) -> torch.dtype:
        """The stored dtype of ``key``, read from the header (no tensor is read)."""
        if self._tensors is not None:
            return self._tensors[key].dtype
        return self._spans[key].dtype

    def populate(self, tensors: list[Tensor]) -> None:
        """Faults in the file pages behind ``tensors`` (views of this file) now, in one call
        per contiguous range: the file is read once, at load, not during the first step."""
        mapped = self._map_ref() if self._map_ref is not None else None
        if mapped is None or not tensors:
            return
        base = buffer_address(mapped)
        ranges = sorted(
            (t.data_ptr() - base, t.data_ptr() - base + t.numel() * t.element_size())
            for t in tensors
            if 0 <= t.data_ptr() - base < len(mapped)
        )
        for start, end in _merged(ranges):
            _populate(mapped, start, end)

    def _mapping(self, *, fresh: bool = False) -> mmap.mmap | None:
        if self._tensors is not None:
            return None
        mapped = self._map_ref() if self._map_ref is not None and not fresh else None
        if mapped is None:
            with self.path.open("rb") as fh:
                mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
            self._map_ref = weakref.ref(mapped)
        return mapped

    def _read(self, mapped: mmap.mmap | None, key: str) -> Tensor:
        if self._tensors is not None:
            return self._tensors[key]
        assert mapped is not None
        return _from_map(mapped, self._spans[key])

    def close(self) -> None:
        """Drops this object's reference to the file map (tensors viewing it keep it alive)."""
        self._map_ref = None


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Page-aligned ranges covering ``ranges`` (sorted), adjacent or overlapping ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        start -= start % _PAGE
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _populate(mapped: mmap.mmap, start: int, end: int) -> None:
    try:
        mapped.madvise(MADV_POPULATE_READ, start, end - start)
    except OSError:  # older kernel: read one byte per page instead
        view = torch.frombuffer(mapped, dtype=torch.uint8, count=end - start, offset=start)
        int(view[::_PAGE].sum())


def _from_map(mapped: mmap.mmap, span: _Span) -> Tensor:
    count = math.prod(span.shape)
    if count == 0:
        return torch.empty(span.shape, dtype=span.dtype)
    if span.start % span.dtype.itemsize:  # unaligned data: copy out instead of viewing
        raw = bytearray(mapped[span.start : span.end])
        return torch.frombuffer(raw, dtype=span.dtype).reshape(span.shape)
    flat = torch.frombuffer(mapped, dtype=span.dtype, count=count, offset=span.start)
    return flat.reshape(span.shape)


def _safetensors_header(path: Path) -> tuple[dict[str, object], int]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise TruncatedCheckpointError(
                f"{path}: {size} bytes is too short for a safetensors header"
            )
        (length,) = struct.unpack("<Q", head)
        if length > _HEADER_LIMIT:
            raise UnsupportedCheckpointFormatError(
                f"{path}: header length {length} is implausible; not a safetensors file"
            )
        raw = fh.read(length)
    if len(raw) < length:
        raise TruncatedCheckpointError(f"{path}: header needs {length} bytes, file has {size - 8}")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsupportedCheckpointFormatError(f"{path}: safetensors header is not JSON") from exc
    return header, size - 8 - length


def read_safetensors(path: Path) -> TensorFile:
    header, data_size = _safetensors_header(path)
    metadata = header.pop("__metadata__", None) or {}
    data_start = path.stat().st_size - data_size
    spans: dict[str, _Span] = {}
    for key, info in header.items():
        if not isinstance(info, dict) or info.get("dtype") not in _ST_DTYPES:
            raise UnsupportedCheckpointFormatError(f"{path}: tensor {key!r} has entry {info!r}")
        begin, end = (int(v) for v in info["data_offsets"])
        if end > data_size:
            raise TruncatedCheckpointError(
                f"{path}: tensor {key!r} needs {end} bytes after the header, "
                f"the file has {data_size}"
            )
        dtype = _ST_DTYPES[info["dtype"]]
        shape = tuple(int(d) for d in info["shape"])
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise UnsupportedCheckpointFormatError(
                f"{path}: tensor {key!r} size disagrees with shape"
            )
        spans[key] = _Span(dtype, shape, data_start + begin, data_start + end)
    shapes = {k: v.shape for k, v in spans.items()}
    meta = {str(k): str(v) for k, v in dict(metadata).items()}
    return TensorFile(path, shapes, meta, None, spans)


def _unwrap(obj: object, path: Path, section: str = "state_dict") -> dict[str, Tensor]:
    """The flat tensor dict inside a pickle: top level, or the nested dict under ``section``
    (``state_dict``; adapters nest theirs, e.g. PhotoMaker's ``id_encoder``). A nested dict of
    tensors (IP-Adapter ``.bin``: ``{"image_proj": {…}, "ip_adapter": {…}}``) is flattened to
    ``name.key``, the keys its ``.safetensors`` form has."""
    if isinstance(obj, Mapping) and section in obj and isinstance(obj[section], Mapping):
        obj = obj[section]
    if not isinstance(obj, Mapping):
        raise UnsupportedCheckpointFormatError(
            f"{path}: pickle holds {type(obj).__name__}, not a dict"
        )
    flat: dict[str, Tensor] = {}
    for key, value in obj.items():
        if isinstance(value, Tensor):
            flat[str(key)] = value
        elif isinstance(value, Mapping) and value and all(
                isinstance(t, Tensor) for t in value.values()):
            flat.update({f"{key}.{inner}": t for inner, t in value.items()})
    return flat


class _InertObject:
    """Stands in for a pickled class we do not trust (Lightning callbacks, omegaconf ...):
    accepts any constructor arguments and state, does nothing, runs no code of the original."""

    def __new__(cls, *args: object, **kwargs: object) -> _InertObject:
        return object.__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass


def _inert_stubs(path: Path) -> list[tuple[type, str]]:
    """An inert class for every global the weights-only unpickler would refuse in ``path``.

    torch's restricted unpickler still performs the load and keeps refusing dangerous modules
    (``os``, ``subprocess``, ``builtins.eval`` ...) whatever we allow here.
    """
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (RuntimeError, ValueError) as exc:
        raise UnsupportedCheckpointFormatError(
            f"{path}: legacy pickle holding objects beyond tensors ({exc}); convert this file to "
            "safetensors with a trusted tool"
        ) from exc
    stubs = []
    for name in names:
        module, _, qualname = name.rpartition(".")
        stub = type(qualname, (_InertObject,), {"__module__": module, "__qualname__": qualname})
        stubs.append((stub, name))
    return stubs


def _torch_load(path: Path) -> object:
    """Weights-only ``torch.load``, memory-mapped unless the file predates the zip format."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap can only be used" not in str(exc):
            raise
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_pickle(path: Path) -> object:
    try:
        return _torch_load(path)
    except pickle.UnpicklingError:
        pass
    stubs = _inert_stubs(path)
    logger.warning(
        "%s: replacing pickled objects with inert stubs: %s", path, [n for _, n in stubs]
    )
    try:
        with torch.serialization.safe_globals(stubs):
            return _torch_load(path)
    except pickle.UnpicklingError as exc:
        raise UnsupportedCheckpointFormatError(
            f"{path}: pickle needs objects that cannot be loaded safely ({exc}); convert this "
            "file to safetensors with a trusted tool"
        ) from exc


def read_pickle(path: Path, section: str = "state_dict") -> TensorFile:
    """A torch pickle's tensors, read by torch's weights-only unpickler (plus inert stubs);
    a nested dict under ``section`` is read instead of the top level when there is one."""
    try:
        obj = _load_pickle(path)
    except RuntimeError as exc:
        if "central directory" in str(exc) or "failed reading" in str(exc):
            raise TruncatedCheckpointError(f"{path}: torch archive is incomplete ({exc})") from exc
        raise CheckpointError(f"{path}: cannot read torch archive ({exc})") from exc
    except (EOFError, KeyError, ValueError) as exc:
        raise UnsupportedCheckpointFormatError(f"{path}: not a torch checkpoint ({exc!r})") from exc
    tensors = _unwrap(obj, path, section)
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    return TensorFile(path, shapes, {}, tensors)


def read_tensor_file(path: str | Path, *, section: str = "state_dict") -> TensorFile:
    """Opens a checkpoint by extension: safetensors (lazy) or a weights-only torch pickle (its
    nested ``section`` dict when it has one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint path={str(path)!r} is not a file")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return read_safetensors(path)
    if suffix in PICKLE_SUFFIXES:
        return read_pickle(path, section)
    raise UnsupportedCheckpointFormatError(
        f"{path}: unknown extension {suffix!r}; expected one of "
        f"{sorted(SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES)}"
    )
