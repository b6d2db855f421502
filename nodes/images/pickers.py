"""The input-file picker of LoadImage and LoadImageMask.

Its choices are read from the schema context on every ``/object_info`` request (the input
folder); validation, fingerprints and runs read the folders from their own context
(``ctx.folders``).
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.api import Combo, Problem, SchemaContext
from nodes.api.inputs import NO_SCHEMA, SchemaChoices

# Image types mimetypes may not know on every platform.
_EXTRA_IMAGE_SUFFIXES = frozenset({".webp", ".avif", ".jxl", ".heic", ".heif", ".mpo", ".tga"})


def is_image_name(name: str) -> bool:
    """Whether a file name looks like an image (by its extension, as ComfyUI filters)."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is not None and guessed.startswith("image/"):
        return True
    return Path(name).suffix.lower() in _EXTRA_IMAGE_SUFFIXES


def image_files_in(folder: Path) -> list[str]:
    """The sorted image files directly in ``folder``; links that resolve outside it are not
    offered."""
    root = folder.resolve()
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


@dataclass(frozen=True)
class InputImageFiles(SchemaChoices):
    """Choices: the image files of the input folder, re-read on every call (none without
    folders)."""

    def __call__(self, schema: SchemaContext) -> list[str]:
        if schema.folders is None:
            return []
        return image_files_in(Path(schema.folders.input))


@dataclass(frozen=True)
class ImageFileCombo(Combo):
    """A file picker that also takes names it does not list.

    Uploads to subfolders (``sub/name.png``) and annotated names (``name.png [output]``) are
    valid, as in ComfyUI, whose custom validation replaces the list check for LoadImage. The
    node's ``validate`` checks that the file exists inside its folder.
    """

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        if isinstance(value, str):
            return None
        return Problem(
            code="value_not_in_list",
            message="Value not in list",
            details=f"{self.name}: {value!r} is not a file name",
        )
