"""The input-file picker of LoadImage and LoadImageMask, bound to folders at registration.

No globals: the node classes in the built-in list carry a picker that lists nothing. The
composition root binds them to its folders with :func:`bind_folders`, which returns subclasses
(same type names) whose picker lists ``folders.input`` on every ``/object_info`` request.
Validation, fingerprints and runs read the folders from their context (``ctx.folders``), not
from the picker.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from nodes.api import Combo, Folders, Node, Problem

logger = logging.getLogger(__name__)

# Image types mimetypes may not know on every platform.
_EXTRA_IMAGE_SUFFIXES = frozenset({".webp", ".avif", ".jxl", ".heic", ".heif", ".mpo", ".tga"})


def is_image_name(name: str) -> bool:
    """Whether a file name looks like an image (by its extension, as ComfyUI filters)."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is not None and guessed.startswith("image/"):
        return True
    return Path(name).suffix.lower() in _EXTRA_IMAGE_SUFFIXES


class InputImageFiles:
    """The sorted image files directly in an input folder, re-read on every call.

    Links that resolve outside the folder are not offered. ``None`` means no folder: nothing.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def __call__(self) -> list[str]:
        if self.folder is None:
            return []
        root = self.folder.resolve()
        try:
            entries = list(os.scandir(root))
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if not is_image_name(entry.name):
                continue
            target = Path(entry.path).resolve()
            if target.is_file() and target.is_relative_to(root):
                names.append(entry.name)
        return sorted(names)

    def __repr__(self) -> str:
        return f"InputImageFiles({str(self.folder)!r})"


@dataclass(frozen=True)
class ImageFileCombo(Combo):
    """A file picker that also takes names it does not list.

    Uploads to subfolders (``sub/name.png``) and annotated names (``name.png [output]``) are
    valid, as in ComfyUI, whose custom validation replaces the list check for LoadImage. The
    node's ``validate`` checks that the file exists inside its folder.
    """

    def check(self, value: Any) -> Problem | None:
        if isinstance(value, str):
            return None
        return Problem(
            code="value_not_in_list",
            message="Value not in list",
            details=f"{self.name}: {value!r} is not a file name",
        )


class FilePickerNode(Node):
    """A node with an input-file picker; :meth:`bound_to` gives it a folder to list."""

    picker_input: ClassVar[str] = "image"

    @classmethod
    def bound_to(cls, folders: Folders) -> type[Node]:
        """A subclass of the same type name whose picker lists ``folders.input``."""
        files = InputImageFiles(Path(folders.input))
        inputs = tuple(
            replace(i, choices=files) if isinstance(i, Combo) and i.name == cls.picker_input
            else i
            for i in cls.inputs
        )
        namespace = {"inputs": inputs, "__doc__": cls.__doc__, "__module__": cls.__module__}
        return type(cls.__name__, (cls,), namespace)


def bind_folders(nodes: Iterable[type[Node]], folders: Folders) -> list[type[Node]]:
    """``nodes`` with every file-picker node bound to ``folders`` (others unchanged)."""
    return [n.bound_to(folders) if issubclass(n, FilePickerNode) else n for n in nodes]
