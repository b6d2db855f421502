"""README.md's node list is exactly what ``scripts/node_list.py`` generates from the registry,
so it never drifts (regenerate it with ``python scripts/node_list.py --write``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("node_list", ROOT / "scripts" / "node_list.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_lists_exactly_the_registered_nodes() -> None:
    script = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.with_node_list(readme, script.node_list()) == readme, \
        "README.md's node list is stale: run python scripts/node_list.py --write"


def test_the_list_names_categories_and_display_names() -> None:
    script = _script()
    text = script.node_list()
    assert "- **latent/transform**: `LatentCrop` (Crop Latent), `LatentFlip` (Flip Latent)" in text
    assert "`LatentAdd`," in text
    assert "ConditioningAverage " not in text  # aliases are not nodes
    with pytest.raises(ValueError, match="lacks the markers"):
        script.with_node_list("no markers", text)
