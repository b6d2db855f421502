"""The server loads nothing unsafe (paths: ``nodes.api.paths``, tested in tests/nodes)."""

from __future__ import annotations

import ast
from pathlib import Path


def test_no_pickle_or_unsafe_loading_in_the_server() -> None:
    root = Path(__file__).resolve().parents[2] / "server"
    banned = {"pickle", "marshal", "shelve", "dill", "torch", "numpy", "diffusion"}
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {n.split(".")[0] for n in names} & banned, path
