"""Fixtures of the plugin-pack tests: a workspace with tiny checkpoints, an engine whose
registry holds the built-in pack plus ``tests.plugins.port_pack``, and synthetic ComfyUI packs
loaded from a temporary ``custom_nodes`` folder (the plugin host is uninstalled after each
test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nodes.plugins.host import uninstall
from tests.plugins.support import PluginEnv, load_env
from tests.workflows.support import tiny_checkpoints, workspace

__all__ = ["tiny_checkpoints", "workspace"]


@pytest.fixture
def plugin_env(tmp_path: Path) -> Iterator[Callable[..., PluginEnv]]:
    """``plugin_env("ListPack", "custom_types_pack.py", …)``: those packs loaded."""
    def load(*packs: str, **settings: Any) -> PluginEnv:
        return load_env(tmp_path, packs, **settings)

    yield load
    uninstall()
