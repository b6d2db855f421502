"""The composition root: the one place that wires registry, node packs and engine together."""

from __future__ import annotations

import logging
from pathlib import Path

from executor.cache import OutputCache, make_cache
from executor.engine import Engine
from nodes.api import Folders, Registry

logger = logging.getLogger(__name__)


def build_registry(folders: Folders | None = None) -> Registry:
    """A registry holding the built-in node pack (plugins register the same way)."""
    from nodes.builtin import register_builtin_nodes

    registry = Registry()
    register_builtin_nodes(registry, folders)
    return registry


def folders_under(base: Path, output_dir: Path | None = None) -> Folders:
    """The input/output/temp folders of a base directory (created when missing)."""
    folders = Folders(
        input=(base / "input").resolve(),
        output=(output_dir or base / "output").resolve(),
        temp=(base / "temp").resolve(),
    )
    for path in (folders.input, folders.output, folders.temp):
        path.mkdir(parents=True, exist_ok=True)
    return folders


def build_engine(
    registry: Registry, folders: Folders, cache: OutputCache | None = None
) -> Engine:
    return Engine(registry, cache if cache is not None else make_cache("lru"), folders=folders)
