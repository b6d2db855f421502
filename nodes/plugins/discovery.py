"""Finding node packs: every package folder and single ``.py`` file of the custom-nodes
folders, as ComfyUI scans ``custom_nodes/`` (sorted by name), plus the ``--node-pack``
modules. Names ending in ``.disabled``, ``__pycache__`` and hidden entries are skipped; a pack
outside the allow-list (``--disable-custom-nodes``) is reported as disabled."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nodes.api.packs import DISABLED, PackReport
from nodes.plugins.settings import PluginSettings

FOLDER, FILE, MODULE = "folder", "file", "module"


@dataclass(frozen=True)
class PackSource:
    """One pack to import: its module name, where it lives and how it was found."""

    name: str
    path: Path | None
    kind: str  # FOLDER, FILE or MODULE
    origin: str  # "custom_nodes folder <dir>" or "--node-pack"
    function: str | None = None  # MODULE:FUNCTION packs: the registration function

    def shown_path(self) -> str:
        """The path as reports show it: relative to its custom-nodes folder's parent."""
        if self.path is None:
            return self.name
        return f"{self.path.parent.name}/{self.path.name}"


def _skipped(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    return (name.startswith(".") or name == "__pycache__" or name.endswith(".disabled")
            or name.endswith(".disabled.py"))


def _scan(folder: Path) -> list[PackSource]:
    found = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    origin = f"custom_nodes folder {folder.name}"
    for entry in entries:
        if _skipped(entry):
            continue
        path = Path(entry.path)
        if entry.is_dir():
            found.append(PackSource(entry.name, path, FOLDER, origin))
        elif entry.name.endswith(".py"):
            found.append(PackSource(entry.name[:-3], path, FILE, origin))
    return found


def _module_source(spec: str) -> PackSource:
    module, _, function = spec.partition(":")
    if not module or (":" in spec and not function):
        raise ValueError(f"--node-pack expects MODULE or MODULE:FUNCTION, got {spec!r}")
    return PackSource(module, None, MODULE, "--node-pack", function or None)


def discover(settings: PluginSettings) -> tuple[list[PackSource], list[PackReport]]:
    """(packs to import in order, reports of the disabled ones). The first pack of a name
    wins; a later one of the same name is reported as disabled (duplicate)."""
    sources: list[PackSource] = [_module_source(s) for s in settings.modules]
    disabled: list[PackReport] = []
    seen = {s.name for s in sources}
    for folder in settings.folders:
        for source in _scan(folder):
            if source.name in seen:
                disabled.append(PackReport(source.name, source.shown_path(), source.origin,
                                           DISABLED, left_out={"*": "a pack of this name "
                                                                    "loaded earlier"}))
            elif not settings.allows(source.name):
                disabled.append(PackReport(source.name, source.shown_path(), source.origin,
                                           DISABLED))
            else:
                sources.append(source)
            seen.add(source.name)
    return sources, disabled
