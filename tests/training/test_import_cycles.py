"""The training modules import one another one way only (lazy imports inside functions count)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    """Every absolute module an ``import`` or ``from ... import`` anywhere in ``path`` names,
    plus ``pkg.name`` for ``from pkg import name`` (``name`` may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _graph(package: str) -> nx.DiGraph:
    modules = {f"{package}.{p.stem}": p for p in sorted((ROOT / package).glob("*.py"))}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        graph.add_edges_from((name, dep) for dep in _imported_modules(path) & modules.keys()
                             if dep != name)
    return graph


def test_training_has_no_import_cycles() -> None:
    graph = _graph("training")
    assert "training.stages" in graph and "training.config" in graph
    assert list(nx.simple_cycles(graph)) == []


def test_only_entry_points_import_training_stages() -> None:
    graph = _graph("training")
    assert list(graph.predecessors("training.stages")) == []


def test_training_config_sits_below_every_stage() -> None:
    graph = _graph("training")
    assert list(graph.successors("training.config")) == []
    for stage in ("vae_stage", "text_stage", "decoder_stage", "unet_stage", "export", "latents"):
        assert graph.has_edge(f"training.{stage}", "training.config")


def test_the_cycle_finder_sees_lazy_imports(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from training.adherence import shape_mask\n")
    assert "training.adherence" in _imported_modules(sample)
