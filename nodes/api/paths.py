"""The one path-containment check for every file name that comes from a prompt or a request.

A name is relative and POSIX-style (``subfolder/name.png``). :func:`resolve_inside` refuses,
with the value named in the error, before touching the disk:

- empty names, NUL bytes, Windows separators (``\\``) and drive letters (``C:``);
- absolute paths (``/etc/passwd``, ``//server/share``);
- any ``..`` component (even one that would stay inside after normalising: refusing it is
  simpler than reasoning about it).

It then resolves symlinks and requires the result to stay inside the resolved root, so a link
that points out of the folder is refused too.

Model folders are the owner's configuration, so links the owner placed inside them (a shared
model store) are followed: :func:`entry_inside` checks a name lexically only and
:func:`list_entries` lists below a folder following links; a request still names only entries
below the folder (no ``..``, no absolute paths).

ComfyUI's annotated names select the folder with a suffix: ``name.png [output]``,
``name.png [input]``, ``name.png [temp]`` (:func:`parse_annotated`).

Pure standard library: ``nodes.api`` stays free of torch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

FolderType = Literal["input", "output", "temp"]
FOLDER_TYPES: tuple[FolderType, ...] = ("input", "output", "temp")

_DRIVE = re.compile(r"^[A-Za-z]:")
_ANNOTATION = re.compile(r"^(?P<name>.*) \[(?P<folder>input|output|temp)\]$", re.DOTALL)


class PathRefusedError(ValueError):
    """A file name that is malformed or would leave its allowed folder."""

    def __init__(self, what: str, value: object, reason: str) -> None:
        super().__init__(f"{what} {value!r} refused: {reason}")
        self.what = what
        self.value = value
        self.reason = reason


class HasFolders(Protocol):
    """Anything with the three node folders (``nodes.api.Folders``)."""

    input: Path
    output: Path
    temp: Path


@dataclass(frozen=True)
class AnnotatedName:
    """A file name with the folder its annotation selects (``None``: no annotation)."""

    name: str
    folder_type: FolderType | None = None


def parse_annotated(value: str) -> AnnotatedName:
    """Split ComfyUI's ``name.png [output]`` into the name and the folder type.

    Only the three known annotations, preceded by one space, are recognised; anything else is
    part of the name.
    """
    match = _ANNOTATION.match(value)
    if match is None:
        return AnnotatedName(value)
    folder: FolderType = match["folder"]  # type: ignore[assignment]
    return AnnotatedName(match["name"], folder)


def folder_of(folders: HasFolders, folder_type: str) -> Path:
    """The folder for ``input``, ``output`` or ``temp``."""
    if folder_type not in FOLDER_TYPES:
        raise ValueError(f"unknown folder type {folder_type!r}; choose one of {FOLDER_TYPES}")
    return Path(getattr(folders, folder_type))


def check_relative(value: object, *, what: str = "file name", allow_empty: bool = False) -> str:
    """Lexical checks of a relative POSIX name; returns it unchanged or raises."""
    if not isinstance(value, str):
        raise PathRefusedError(what, value, f"expected a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise PathRefusedError(what, value, "it is empty")
    if "\x00" in value:
        raise PathRefusedError(what, value, "it contains a NUL byte")
    if "\\" in value:
        raise PathRefusedError(what, value, "it contains a Windows separator '\\'")
    if _DRIVE.match(value):
        raise PathRefusedError(what, value, "it starts with a drive letter")
    if value.startswith("/"):
        raise PathRefusedError(what, value, "it is an absolute path")
    if ".." in value.split("/"):
        raise PathRefusedError(what, value, "it contains a '..' component")
    return value


def resolve_inside(root: Path, value: object, *, what: str = "file name",
                   allow_empty: bool = False) -> Path:
    """``root / value`` with symlinks resolved, refused unless it stays inside ``root``.

    ``allow_empty`` lets ``""`` name the root itself (a subfolder argument).
    """
    relative = check_relative(value, what=what, allow_empty=allow_empty)
    base = Path(root).resolve()
    candidate = (base / relative).resolve()
    if candidate != base and not candidate.is_relative_to(base):
        raise PathRefusedError(what, value, f"it resolves outside the folder {str(base)!r}")
    return candidate


def entry_inside(root: Path, value: object, *, what: str = "file name") -> Path:
    """``root / value`` without resolving links: an entry below ``root`` as its owner set it up.

    For folders the owner configures (model folders): links inside them may point anywhere.
    """
    relative = check_relative(value, what=what)
    return Path(os.path.abspath(root)) / relative


_SKIPPED_DIRS = frozenset({".git"})


def _walk(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` following links, never entering one real directory twice (link loops)."""
    seen: set[str] = set()
    for top, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        yield top, dirs, files


def list_entries(root: Path, suffixes: Collection[str]) -> list[str]:
    """Sorted relative POSIX names of the files below ``root`` whose suffix (lower-cased) is
    one of ``suffixes``, following links (see :func:`entry_inside`)."""
    if not Path(root).is_dir():
        return []
    found = []
    for top, _dirs, files in _walk(Path(root)):
        for name in files:
            path = Path(top, name)
            if path.suffix.lower() in suffixes and path.is_file():
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def resolve_annotated(folders: HasFolders, value: object, *, default: FolderType = "input",
                      what: str = "file name") -> Path:
    """Resolve a possibly annotated name (``sub/name.png [output]``) inside its folder."""
    if not isinstance(value, str):
        raise PathRefusedError(what, value, f"expected a string, got {type(value).__name__}")
    parsed = parse_annotated(value)
    root = folder_of(folders, parsed.folder_type or default)
    return resolve_inside(root, parsed.name, what=what)
