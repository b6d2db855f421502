"""Model pickers bound at registration, and the path/fingerprint helpers of the loaders.

No globals: a loader class in the built-in list carries pickers that list nothing. The
composition root binds them with :func:`bind_model_folders`, which returns subclasses (same type
names) whose pickers list the given ``ModelFolders`` on every ``/object_info`` request.
Validation, fingerprints and runs resolve names through ``ctx.services["model_folders"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from diffusion.memory import FileKey
from nodes.api import CachePolicy, Combo, FingerprintContext, Node
from nodes.api.paths import PathRefusedError
from nodes.models.folders import ModelFiles, ModelFolders, ModelNotFoundError
from nodes.models.services import folders_of


class ModelPickerNode(Node):
    """A node whose Combo inputs pick model files: ``pickers`` maps input name → folder.

    Fingerprinted by every picked file's (path, size, mtime_ns): a resubmit with unchanged files
    is a cache hit without opening anything; a replaced file re-runs the node.
    """

    cache = CachePolicy.FINGERPRINT
    pickers: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def bound_to_models(cls, folders: ModelFolders) -> type[Node]:
        """A subclass of the same type name whose pickers list ``folders``."""
        inputs = tuple(
            replace(i, choices=ModelFiles(folders, cls.pickers[i.name]))
            if isinstance(i, Combo) and i.name in cls.pickers else i
            for i in cls.inputs
        )
        namespace = {"inputs": inputs, "__doc__": cls.__doc__, "__module__": cls.__module__}
        return type(cls.__name__, (cls,), namespace)

    @classmethod
    def model_path(cls, services: Mapping[str, Any], input_name: str, value: Any) -> Path:
        """The file input ``input_name`` names, inside its model folder."""
        folders = folders_of(services, cls.type_name)
        what = f"{cls.type_name} input {input_name!r}"
        return folders.resolve(cls.pickers[input_name], value, what=what)

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, **inputs: Any) -> Any:
        keys = []
        for name in cls.pickers:
            value = inputs.get(name)
            if value is None:
                raise ValueError(f"{cls.type_name} input {name!r} is linked; "
                                 "the file cannot be fingerprinted before the run")
            key = FileKey.of(cls.model_path(ctx.services, name, value))
            keys.append([key.path, key.size, key.mtime_ns])
        return keys

    @classmethod
    def validate(cls, ctx: FingerprintContext, **inputs: Any) -> str | None:
        for name in cls.pickers:
            value = inputs.get(name)
            if value is None:
                continue
            try:
                cls.model_path(ctx.services, name, value)
            except (PathRefusedError, ModelNotFoundError, RuntimeError) as exc:
                return str(exc)
        return None


def model_picker(name: str, folder: str, tooltip: str) -> Combo:
    """An unbound model picker input (lists nothing until bound)."""
    return Combo(name, choices=ModelFiles(None, folder), tooltip=tooltip)


def bind_model_folders(nodes: Iterable[type[Node]], folders: ModelFolders) -> list[type[Node]]:
    """``nodes`` with every model-picker node bound to ``folders`` (others unchanged)."""
    return [n.bound_to_models(folders) if issubclass(n, ModelPickerNode) else n for n in nodes]
