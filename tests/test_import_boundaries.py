"""The package arrows of STYLE.md, enforced by reading every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> top-level modules it must never import
FORBIDDEN = {
    "diffusion": {"nodes", "executor", "server", "latentgraph", "aiohttp", "networkx",
                  "training"},
    "executor": {"torch", "numpy", "server", "latentgraph", "diffusion", "safetensors", "PIL",
                 "training"},
    "server": {"torch", "diffusion", "safetensors", "latentgraph", "training"},
    "nodes/api": {"torch", "numpy", "executor", "server", "latentgraph", "diffusion"},
    "nodes": {"executor", "server", "latentgraph", "training"},
    "custom_nodes": {"executor", "server", "latentgraph", "training"},
    # training code stays out of the runtime import path (issue 7)
    "training": {"server", "executor", "nodes"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _violations(package: str, forbidden: set[str]) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in forbidden:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_flow_one_way(package: str) -> None:
    assert _violations(package, FORBIDDEN[package]) == []


def test_nodes_api_stands_alone() -> None:
    # nodes.api is what the executor sees: it must not import the built-in pack either.
    assert _violations("nodes/api", {"nodes.builtin"}) == []
    bad = [v for v in _violations("nodes/api", {"nodes"}) if "nodes.api" not in v]
    assert bad == []


def test_diffusion_text_sits_below_loading() -> None:
    # diffusion.loading builds text encoders, so diffusion.text must not point back up at it
    # (not even under TYPE_CHECKING: TextSlot lives in diffusion.text.slots).
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}"
           for path in sorted((ROOT / "diffusion" / "text").rglob("*.py"))
           for line, module in _imports(path)
           if module == "diffusion.loading" or module.startswith("diffusion.loading.")]
    assert bad == []


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import torch\nfrom server.app import x\nfrom . import y\n")
    assert [m for _, m in _imports(sample)] == ["torch", "server.app"]
