"""Typed ports: what a node may reach beyond its inputs — models, model folders, text tools.

Each port is a ``Protocol``; the composition root (``latentgraph.app``) wires concrete ones once
into the engine, and a node (built-in or plugin) uses them as ``ctx.models``,
``ctx.model_files`` and ``ctx.text`` without importing any built-in pack::

    path = ctx.model_files.resolve("checkpoints", ckpt_name)
    handles = ctx.models.open(path)            # component name -> handle, no weights read
    with ctx.models.use(handles["unet"]) as unet:
        ...

An engine built without a port gets an *unwired* one: using it raises
:class:`PortUnavailableError` naming the port (an unwired ``model_files`` lists nothing, so
pickers of a registry without model folders offer no choices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nodes.api.memory import MemoryReport, no_budget


class PortUnavailableError(RuntimeError):
    """A node used a port the engine was built without."""


class ModelStore(Protocol):
    """Opens model files once and makes their components resident on the compute device."""

    @property
    def device(self) -> Any:
        """The compute device (a ``torch.device``) resident components live on."""
        ...

    def open(self, path: Path) -> Mapping[str, Any]:
        """Handles (no weights) for every component of the file, by component name."""
        ...

    def use(self, handle: Any, patches: Any = ...) -> AbstractContextManager[Any]:
        """The component (with ``patches`` applied), resident and pinned inside the block."""
        ...

    def unload_all(self) -> int:
        """Drops the weights of every component not in use; returns how many were dropped."""
        ...


class ModelFiles(Protocol):
    """Model folders (``checkpoints``, ``loras``, …) with their search paths."""

    def files(self, folder: str) -> list[str]:
        """Sorted relative names of the model files in ``folder``."""
        ...

    def resolve(self, folder: str, name: object, *, what: str = "model name") -> Path:
        """The file ``name`` picked from ``folder``; refuses names that leave the folder."""
        ...

    def search_paths(self, folder: str) -> list[Path]:
        """The folder's search paths, in order."""
        ...


class Tokenizer(Protocol):
    """A text tokenizer (CLIP's byte-level BPE)."""

    @property
    def bos_id(self) -> int: ...

    @property
    def eos_id(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...


class TextSource(Protocol):
    """Text tools shared by every job: the CLIP tokenizer, built once on first use."""

    def clip_tokenizer(self) -> Tokenizer: ...


DeviceList = Callable[[], list[dict[str, Any]]]
"""ComfyUI's ``/system_stats`` device entries of the compute device(s)."""


class _Unwired:
    """Stands in for a port the engine was built without; every use names the port."""

    def __init__(self, port: str) -> None:
        self._port = port

    def _refuse(self, what: str) -> PortUnavailableError:
        return PortUnavailableError(
            f"ctx.{self._port}.{what}: this engine has no {self._port} port "
            "(the composition root, latentgraph.app.build_engine, wires it)"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._refuse(name)

    def __repr__(self) -> str:
        return f"<unwired {self._port} port>"


class UnwiredModelStore(_Unwired):
    def __init__(self) -> None:
        super().__init__("models")

    @property
    def device(self) -> Any:
        raise self._refuse("device")

    def open(self, path: Path) -> Mapping[str, Any]:
        raise self._refuse("open")

    def use(self, handle: Any, patches: Any = None) -> AbstractContextManager[Any]:
        raise self._refuse("use")

    def unload_all(self) -> int:
        return 0


class UnwiredModelFiles(_Unwired):
    """No model folders: lists nothing, resolves nothing."""

    def __init__(self) -> None:
        super().__init__("model_files")

    def files(self, folder: str) -> list[str]:
        return []

    def resolve(self, folder: str, name: object, *, what: str = "model name") -> Path:
        raise self._refuse(f"resolve({folder!r}, {name!r})")

    def search_paths(self, folder: str) -> list[Path]:
        return []


class UnwiredTextSource(_Unwired):
    def __init__(self) -> None:
        super().__init__("text")

    def clip_tokenizer(self) -> Tokenizer:
        raise self._refuse("clip_tokenizer")


def _no_devices() -> list[dict[str, Any]]:
    return []


@dataclass(frozen=True)
class Ports:
    """The ports an engine hands to every node; the composition root builds one."""

    models: ModelStore = field(default_factory=UnwiredModelStore)
    model_files: ModelFiles = field(default_factory=UnwiredModelFiles)
    text: TextSource = field(default_factory=UnwiredTextSource)
    devices: DeviceList = _no_devices
    memory: MemoryReport = no_budget  # the memory budget jobs are checked against


__all__ = [
    "DeviceList", "ModelFiles", "ModelStore", "PortUnavailableError", "Ports", "TextSource",
    "Tokenizer", "UnwiredModelFiles", "UnwiredModelStore", "UnwiredTextSource",
]
