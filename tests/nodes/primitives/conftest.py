"""Fixtures: an engine with the built-in nodes and the probe, without model folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.cache import make_cache
from executor.engine import Engine
from nodes.api import Folders, Registry
from nodes.builtin import register_builtin_nodes
from tests.nodes.images.helpers import Probe


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    folders = Folders(input=tmp_path, output=tmp_path, temp=tmp_path)
    registry = Registry(folders=folders)
    register_builtin_nodes(registry)
    registry.register(Probe, module="tests")
    return Engine(registry, make_cache("lru", max_entries=100, max_bytes=1 << 20),
                  folders=folders)
