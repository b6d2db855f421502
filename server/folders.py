"""Request paths inside a folder, through the one containment helper (``nodes.api.paths``).

A request names a file as ``subfolder`` plus ``filename``; both are checked, then joined and
resolved (symlinks first) inside the root.
"""

from __future__ import annotations

from pathlib import Path

from nodes.api.paths import check_relative, resolve_inside


def inside(root: Path, subfolder: str = "", name: str | None = None) -> Path:
    """``root/subfolder[/name]`` resolved, or ``PathRefusedError``."""
    check_relative(subfolder, what="subfolder", allow_empty=True)
    if name is None:
        return resolve_inside(root, subfolder, what="subfolder", allow_empty=True)
    check_relative(name, what="filename")
    joined = f"{subfolder.rstrip('/')}/{name}" if subfolder else name
    return resolve_inside(root, joined, what="filename")
