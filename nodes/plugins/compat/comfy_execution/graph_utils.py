"""ComfyUI's ``comfy_execution.graph_utils``: ``GraphBuilder`` (node expansion graphs with
deterministic ids), ``is_link`` and ``ExecutionBlocker``.

Ids: a builder made without a prefix gets ``"<node id>.<call index>.<graph index>."`` — the
node being run, which call of it (list iteration) and how many builders that call made before —
so expansions are unique per node and call and the same on every run (cache hits).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from nodes.api import Blocked


class ExecutionBlocker(Blocked):
    """Return it as an output value to block every consumer; with a message they fail with
    it, with ``None`` they are skipped silently (ComfyUI's ``ExecutionBlocker``)."""

    def __init__(self, message: str | None) -> None:
        super().__init__(message)


_PREFIX: ContextVar[tuple[str, int, int]] = ContextVar("graph_builder_prefix",
                                                        default=("", 0, 0))


@contextmanager
def default_prefix(root: str, call_index: int) -> Iterator[None]:
    """Builders made inside get ids under ``<root>.<call_index>.<n>.`` (the adapter sets it
    around each call of a node, as ComfyUI's executor does)."""
    token = _PREFIX.set((root, call_index, 0))
    try:
        yield
    finally:
        _PREFIX.reset(token)


def is_link(value: Any) -> bool:
    """A ``["<node id>", slot]`` link, as ComfyUI tests it."""
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], (int, float)) and not isinstance(value[1], bool))


class Node:
    """One node of a :class:`GraphBuilder` graph."""

    def __init__(self, id: str, class_type: str, inputs: dict[str, Any]) -> None:
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id: str | None = None

    def out(self, index: int) -> list[Any]:
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override_display_id: str) -> None:
        self.override_display_id = override_display_id

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            out["override_display_id"] = self.override_display_id
        return out


class GraphBuilder:
    """Builds the ``expand`` graph of a node: ``node(class_type, id=None, **inputs)``,
    ``finalize()`` -> ``{id: {"class_type", "inputs"}}``."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = self.alloc_prefix() if prefix is None else prefix
        self.nodes: dict[str, Node] = {}
        self.id_gen = 1

    @classmethod
    def set_default_prefix(cls, prefix_root: str, call_index: int, graph_index: int = 0
                           ) -> None:
        _PREFIX.set((prefix_root, call_index, graph_index))

    @classmethod
    def alloc_prefix(cls, root: str | None = None, call_index: int | None = None,
                     graph_index: int | None = None) -> str:
        default_root, default_call, default_graph = _PREFIX.get()
        root = default_root if root is None else root
        call_index = default_call if call_index is None else call_index
        graph_index = default_graph if graph_index is None else graph_index
        _PREFIX.set((default_root, default_call, default_graph + 1))
        return f"{root}.{call_index}.{graph_index}."

    def node(self, class_type: str, id: str | None = None, **kwargs: Any) -> Node:
        if id is None:
            id = str(self.id_gen)
            self.id_gen += 1
        full = self.prefix + id
        if full not in self.nodes:
            self.nodes[full] = Node(full, class_type, kwargs)
        return self.nodes[full]

    def lookup_node(self, id: str) -> Node | None:
        return self.nodes.get(self.prefix + id)

    def finalize(self) -> dict[str, dict[str, Any]]:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}

    def replace_node_output(self, node_id: str, index: int, new_value: Any) -> None:
        target = [self.prefix + node_id, index]
        for node in self.nodes.values():
            for key, value in list(node.inputs.items()):
                if is_link(value) and list(value) == target:
                    node.set_input(key, new_value)

    def remove_node(self, id: str) -> None:
        del self.nodes[self.prefix + id]


def add_graph_prefix(graph: dict[str, Any], outputs: tuple[Any, ...], prefix: str
                     ) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """``graph`` and ``outputs`` with ``prefix`` put before every node id and internal link."""
    def moved(value: Any) -> Any:
        return [prefix + value[0], value[1]] if is_link(value) else value

    new_graph = {prefix + node_id: {"class_type": node["class_type"],
                                    "inputs": {k: moved(v) for k, v in
                                               node.get("inputs", {}).items()}}
                 for node_id, node in graph.items()}
    return new_graph, tuple(moved(o) for o in outputs)
