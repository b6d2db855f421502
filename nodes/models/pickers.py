"""Model picker nodes: the path and fingerprint helpers of the loaders.

A picker input lists its model folder through the schema context
(``nodes.api.ModelFolderFiles``); validation, fingerprints and runs resolve names through the
context's ``model_files`` port.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from diffusion.memory import FileKey
from nodes.api import CachePolicy, Combo, FingerprintContext, ModelFiles, ModelFolderFiles, Node
from nodes.api.paths import PathRefusedError
from nodes.models.folders import ModelNotFoundError


class ModelPickerNode(Node):
    """A node whose Combo inputs pick model files: ``pickers`` maps input name → folder.

    Fingerprinted by every picked file's (path, size, mtime_ns): a resubmit with unchanged files
    is a cache hit without opening anything; a replaced file re-runs the node.
    """

    cache = CachePolicy.FINGERPRINT
    pickers: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def model_path(cls, model_files: ModelFiles, input_name: str, value: Any) -> Path:
        """The file input ``input_name`` names, inside its model folder."""
        what = f"{cls.type_name} input {input_name!r}"
        return model_files.resolve(cls.pickers[input_name], value, what=what)

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, **inputs: Any) -> Any:
        keys = []
        for name in cls.pickers:
            value = inputs.get(name)
            if value is None:
                raise ValueError(f"{cls.type_name} input {name!r} is linked; "
                                 "the file cannot be fingerprinted before the run")
            key = FileKey.of(cls.model_path(ctx.model_files, name, value))
            keys.append([key.path, key.size, key.mtime_ns])
        return keys

    @classmethod
    def validate(cls, ctx: FingerprintContext, **inputs: Any) -> str | None:
        for name in cls.pickers:
            value = inputs.get(name)
            if value is None:
                continue
            try:
                cls.model_path(ctx.model_files, name, value)
            except (PathRefusedError, ModelNotFoundError, RuntimeError) as exc:
                return str(exc)
        return None


def model_picker(name: str, folder: str, tooltip: str) -> Combo:
    """A model picker input listing ``folder``."""
    return Combo(name, choices=ModelFolderFiles(folder), tooltip=tooltip)
