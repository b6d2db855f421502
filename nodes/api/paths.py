"""The one path-containment check for every file name that comes from a prompt or a request.

A name is relative and POSIX-style (``subfolder/name.png``). :func:`resolve_inside` refuses,
with the value named in the error, before touching the disk:

- empty names, NUL bytes, Windows separators (``\\``) and drive letters (``C:``);
- absolute paths (``/etc/passwd``, ``//server/share``);
- any ``..`` component (even one that would stay inside after normalising: refusing it is
  simpler than reasoning about it);
- lone surrogates (``"\\ud800"``: not Unicode text, no file system can store the name);
- names longer than file systems allow (a component over 255 bytes, a path over 1024
  characters).

It then resolves symlinks and requires the result to stay inside the resolved root, so a link
that points out of the folder is refused too.

Model folders are the owner's configuration, so links the owner placed inside them (a shared
model store) are followed: :func:`entry_inside` checks a name lexically only and
:func:`list_entries` lists below a folder following links; a request still names only entries
below the folder (no ``..``, no absolute paths).

Refusals never show the server's absolute paths: a client learns which name was refused and
why, not where the folders are.

:func:`filename_prefix_problem` checks a save node's ``filename_prefix`` when the prompt is
validated, so a bad one is refused before any work runs.

ComfyUI's annotated names select the folder with a suffix: ``name.png [output]``,
``name.png [input]``, ``name.png [temp]`` (:func:`parse_annotated`).

Pure standard library: ``nodes.api`` stays free of torch.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from nodes.api.text import lone_surrogate

FolderType = Literal["input", "output", "temp"]
FOLDER_TYPES: tuple[FolderType, ...] = ("input", "output", "temp")

_DRIVE = re.compile(r"^[A-Za-z]:")
_ANNOTATION = re.compile(r"^(?P<name>.*) \[(?P<folder>input|output|temp)\]$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME_BYTES = 240  # a saved file is <name>_<counter:05>_.png: at most 255 bytes on disk
MAX_FOLDER_BYTES = 255  # a file or folder name, as file systems allow
MAX_PATH_LENGTH = 1024
MAX_PREFIX_LENGTH = 1024


class PathRefusedError(ValueError):
    """A file name that is malformed or would leave its allowed folder."""

    def __init__(self, what: str, value: object, reason: str) -> None:
        shown = repr(value) if not isinstance(value, str) or len(value) <= 200 else \
            f"{value[:200]!r}… ({len(value)} characters)"
        super().__init__(f"{what} {shown} refused: {reason}")
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
    if lone_surrogate(value) is not None:
        raise PathRefusedError(what, value, "it is not valid Unicode (a lone surrogate)")
    if "\\" in value:
        raise PathRefusedError(what, value, "it contains a Windows separator '\\'")
    if _DRIVE.match(value):
        raise PathRefusedError(what, value, "it starts with a drive letter")
    if value.startswith("/"):
        raise PathRefusedError(what, value, "it is an absolute path")
    if ".." in value.split("/"):
        raise PathRefusedError(what, value, "it contains a '..' component")
    if len(value) > MAX_PATH_LENGTH or any(
            len(part.encode("utf-8")) > MAX_FOLDER_BYTES for part in value.split("/")):
        raise PathRefusedError(what, value, f"it is longer than {MAX_PATH_LENGTH} characters "
                               f"or a name in it is longer than {MAX_FOLDER_BYTES} bytes")
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
        raise PathRefusedError(what, value, "it resolves outside the folder (a link?)")
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

def filename_prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot name saved files, or ``None``.

    The ``%width%``-style variables are checked as written: each expands to text no longer
    than itself, so a prefix that fits here fits after substitution. Links are followed only
    when the file is saved (``resolve_inside``).
    """
    if len(prefix) > MAX_PREFIX_LENGTH:
        return f"it has {len(prefix)} characters; at most {MAX_PREFIX_LENGTH}"
    if _CONTROL.search(prefix):
        return "it contains a control character"
    try:
        check_relative(prefix, what="filename_prefix")
    except PathRefusedError as exc:
        return exc.reason
    _, name = posixpath.split(posixpath.normpath(prefix))
    if not name or name == "." or prefix.endswith("/"):
        return "it names no file (it ends with '/')"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"its file name part is longer than {MAX_NAME_BYTES} bytes"
    return None


def resolve_annotated(folders: HasFolders, value: object, *, default: FolderType = "input",
                      what: str = "file name") -> Path:
    """Resolve a possibly annotated name (``sub/name.png [output]``) inside its folder."""
    if not isinstance(value, str):
        raise PathRefusedError(what, value, f"expected a string, got {type(value).__name__}")
    parsed = parse_annotated(value)
    root = folder_of(folders, parsed.folder_type or default)
    return resolve_inside(root, parsed.name, what=what)
