"""Fixtures: a temp base folder, a registry of the image nodes bound to it, a real Engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.cache import make_cache
from executor.engine import Engine
from nodes.api import Folders, Registry
from nodes.images import IMAGE_NODES
from tests.nodes.images.helpers import Probe


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    made = Folders(input=tmp_path / "input", output=tmp_path / "output", temp=tmp_path / "temp")
    for path in (made.input, made.output, made.temp):
        path.mkdir()
    return made


@pytest.fixture
def registry(folders: Folders) -> Registry:
    Probe.seen = []
    built = Registry(folders=folders)
    built.register_all(IMAGE_NODES, module="nodes")
    built.register(Probe, module="tests")
    return built


@pytest.fixture
def engine(registry: Registry, folders: Folders) -> Engine:
    return Engine(registry, make_cache("lru", max_entries=1000, max_bytes=1 << 30),
                  folders=folders)
