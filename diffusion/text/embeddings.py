"""Textual-inversion embedding files, found by name in folders as ComfyUI finds them.

Formats (the vectors come back as ``(n, width)``):

* A1111 ``.pt`` / ``.bin``: ``{"string_to_param": {"*": (n, width)}, ...}``, read with
  ``torch.load(weights_only=True)`` — never unpickling code.
* ``emb_params`` safetensors: ``{"emb_params": (n, width)}``.
* SDXL safetensors: ``{"clip_l": (n, 768), "clip_g": (n, 1280)}``; the encoder's key picks one.
* Anything else: the file's first tensor, as ComfyUI does.

A file that cannot be read is logged and treated as missing, like ComfyUI's loader.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

logger = logging.getLogger(__name__)

EMBEDDING_EXTENSIONS = (".safetensors", ".pt", ".bin")
STRING_TO_PARAM = "string_to_param"
EMB_PARAMS = "emb_params"


def _search_folders(folders: Sequence[str | Path]) -> Iterator[Path]:
    """Each folder, then its sub-folders (links followed), depth-first in name order."""
    for folder in folders:
        yield Path(folder)
        for root, dirs, _files in os.walk(folder, followlinks=True):
            dirs.sort()
            for name in dirs:
                yield Path(root) / name


def find_embedding(name: str, folders: Sequence[str | Path]) -> Path | None:
    """The file for ``name`` (with or without its extension) in ``folders`` or their sub-folders.

    A name that escapes its folder ("../x", an absolute path) is never looked up.
    """
    for folder in _search_folders(folders):
        root = os.path.abspath(folder)
        candidate = os.path.abspath(os.path.join(root, name))
        if os.path.commonpath((root, candidate)) != root or candidate == root:
            continue
        if os.path.isfile(candidate):
            return Path(candidate)
        for extension in EMBEDDING_EXTENSIONS:
            if os.path.isfile(candidate + extension):
                return Path(candidate + extension)
    return None


def _first_tensor(values: Mapping[str, object], path: Path) -> Tensor:
    for value in values.values():
        if isinstance(value, Tensor):
            return value
    raise ValueError(f"{path}: no tensor among keys {sorted(values)[:8]}")


def embedding_vectors(data: object, key: str, path: Path) -> Tensor:
    """The ``(n, width)`` vectors in a loaded embedding file (see the module docstring)."""
    if isinstance(data, Tensor):
        vectors = data
    elif not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a dict of tensors, got {type(data).__name__}")
    elif STRING_TO_PARAM in data and isinstance(data[STRING_TO_PARAM], Mapping):
        vectors = _first_tensor(data[STRING_TO_PARAM], path)
    elif isinstance(data.get(key), Tensor):
        vectors = data[key]
    elif isinstance(data.get(EMB_PARAMS), Tensor):
        vectors = data[EMB_PARAMS]
    else:
        vectors = _first_tensor(data, path)
    if vectors.ndim == 0:
        raise ValueError(f"{path}: embedding is a scalar")
    return vectors.detach().reshape(-1, vectors.shape[-1])  # (n, width)


def load_embedding(path: str | Path, *, key: str) -> Tensor:
    """Reads one embedding file; ``key`` ("clip_l", "clip_g", ...) picks from SDXL files."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        data: object = load_file(path, device="cpu")
    else:
        data = torch.load(path, map_location="cpu", weights_only=True)
    return embedding_vectors(data, key, path)


class EmbeddingFolders:
    """``name -> (n, width) vectors or None`` over embedding folders, for one encoder's ``key``.

    Files are read once per instance; build one per prompt encode (or keep one while the folders
    do not change).
    """

    def __init__(self, folders: Sequence[str | Path], *, key: str) -> None:
        self.folders = tuple(Path(f) for f in folders)
        self.key = key
        self._loaded: dict[Path, Tensor | None] = {}

    def __call__(self, name: str) -> Tensor | None:
        path = find_embedding(name, self.folders)
        if path is None:
            return None
        if path not in self._loaded:
            self._loaded[path] = self._read(path)
        return self._loaded[path]

    def _read(self, path: Path) -> Tensor | None:
        try:
            return load_embedding(path, key=self.key)
        except (OSError, RuntimeError, ValueError, pickle.UnpicklingError, SafetensorError) as exc:
            logger.warning("cannot read embedding %s (%s); ignoring it", path, exc)
            return None
