"""Output file names as ComfyUI makes them, without races between concurrent jobs.

``filename_prefix`` → ``<folder>/<subfolder>/<name>_<counter:05>_.png``:

- ``%width% %height% %year% %month% %day% %hour% %minute% %second%`` are substituted first
  (local time, two-digit month…second), ``%batch_num%`` per image (0-based);
- ``/`` in the prefix makes subfolders, which must stay inside the folder
  (``nodes.api.paths.resolve_inside``);
- the counter starts at 1 + the highest counter of existing files of that name; each file is
  then created with ``O_EXCL``, stepping the counter while the name is taken, so two jobs
  saving at once never write the same file.
"""

from __future__ import annotations

import os
import posixpath
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nodes.api.paths import PathRefusedError, check_relative, resolve_inside

BATCH_NUM = "%batch_num%"
_MAX_ATTEMPTS = 100_000


@dataclass(frozen=True)
class SaveTarget:
    """Where a save goes: the folder on disk, the subfolder as reported, the name template."""

    folder: Path
    subfolder: str
    name: str


def substitute(prefix: str, width: int, height: int, now: time.struct_time | None = None) -> str:
    """Replace the size and time variables (not ``%batch_num%``)."""
    if "%" not in prefix:
        return prefix
    now = now or time.localtime()
    values = {
        "%width%": str(width), "%height%": str(height), "%year%": str(now.tm_year),
        "%month%": f"{now.tm_mon:02}", "%day%": f"{now.tm_mday:02}",
        "%hour%": f"{now.tm_hour:02}", "%minute%": f"{now.tm_min:02}",
        "%second%": f"{now.tm_sec:02}",
    }
    for key, value in values.items():
        prefix = prefix.replace(key, value)
    return prefix


def save_target(root: Path, prefix: str) -> SaveTarget:
    """Split a substituted prefix into subfolder and name; the subfolder stays inside ``root``."""
    what = "filename_prefix"
    check_relative(prefix, what=what, allow_empty=True)
    normal = posixpath.normpath(prefix) if prefix else ""
    subfolder, name = posixpath.split(normal)
    if name == ".":
        name = ""
    if not name:
        raise PathRefusedError(what, prefix, "it names no file")
    try:
        folder = resolve_inside(root, subfolder, what=what, allow_empty=True)
    except PathRefusedError as exc:
        raise PathRefusedError(what, prefix, exc.reason) from None
    return SaveTarget(folder, subfolder, name)


def _counter_pattern(name: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in name.split(BATCH_NUM)]
    return re.compile(r"\d+".join(parts) + r"_(\d+)(?:_|$)")


def next_counter(folder: Path, name: str) -> int:
    """1 + the highest counter among ``<name>_<digits>_…`` files in ``folder`` (1 if none)."""
    pattern = _counter_pattern(name)
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return 1
    counters = [int(m.group(1)) for entry in entries if (m := pattern.match(entry))]
    return max(counters, default=0) + 1


@contextmanager
def create_exclusive(folder: Path, stem: str, counter: int,
                     suffix: str) -> Iterator[tuple[BinaryIO, str, int]]:
    """A new file ``<stem>_<counter:05>_<suffix>`` opened for writing, stepping the counter past
    taken names; yields (file, file name, counter used). The file is removed if the block
    raises, so a failed save leaves no partial file."""
    for _ in range(_MAX_ATTEMPTS):
        filename = f"{stem}_{counter:05}_{suffix}"
        try:
            fd = os.open(folder / filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            counter += 1
            continue
        try:
            with os.fdopen(fd, "wb") as out:
                yield out, filename, counter
        except BaseException:
            os.unlink(folder / filename)
            raise
        return
    raise RuntimeError(f"no free file name for {stem!r} in its folder after "
                       f"{_MAX_ATTEMPTS} attempts")


def write_exclusive(folder: Path, stem: str, counter: int, suffix: str,
                    data: bytes) -> tuple[str, int]:
    """Write ``data`` to ``<stem>_<counter:05>_<suffix>``, stepping the counter past taken
    names; returns (file name, counter used)."""
    with create_exclusive(folder, stem, counter, suffix) as (out, filename, used):
        out.write(data)
    return filename, used
