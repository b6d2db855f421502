"""The API-format prompt, parsed into a graph of node calls and links.

ComfyUI's rules: a link is ``["<node id>", slot]`` with a *string* id (so ``[5, 0]`` is not a
link); ``{"__value__": X}`` unwraps to the constant ``X`` (clients wrap JSON arrays that way);
a client-sent ``is_changed`` is ignored (we compute fingerprints ourselves); ``_meta`` carries
the title only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.errors import PromptError


@dataclass(frozen=True, slots=True)
class LinkRef:
    """A reference to output ``slot`` of node ``node_id``."""

    node_id: str
    slot: int


@dataclass(frozen=True, slots=True)
class BadLink:
    """A list where a link was expected but which is not one (kept for validation to report)."""

    value: Any


@dataclass(slots=True)
class NodeCall:
    """One node of a prompt: its type and raw inputs (constants, links or bad links)."""

    node_id: str
    class_type: str
    inputs: dict[str, Any]
    title: str | None = None


@dataclass(slots=True)
class Graph:
    """A parsed prompt: node calls by id, in the prompt's order."""

    nodes: dict[str, NodeCall] = field(default_factory=dict)


def is_link(value: Any) -> bool:
    """ComfyUI's link test: a 2-element list of a string id and an integral slot."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return False
    node_id, slot = value
    if not isinstance(node_id, str) or isinstance(slot, bool):
        return False
    if isinstance(slot, int):
        return slot >= 0
    return isinstance(slot, float) and slot.is_integer() and slot >= 0


_SCALARS = (str, int, float, bool, type(None))


def _parse_value(value: Any) -> Any:
    if type(value) in _SCALARS:  # the common case first: cheap on large graphs
        return value
    if isinstance(value, Mapping) and set(value) == {"__value__"}:
        return value["__value__"]
    if isinstance(value, (list, tuple)):
        if is_link(value):
            return LinkRef(value[0], int(value[1]))
        return BadLink(value)
    return value


def parse_node(node_id: str, raw: Any) -> NodeCall:
    """One API-format node; structural problems raise :class:`PromptError`."""
    if not isinstance(raw, dict) and not isinstance(raw, Mapping):
        raise PromptError(
            "invalid_prompt",
            "Cannot execute because a node is not an object.",
            f"Node ID '#{node_id}'",
            {"node_id": node_id},
        )
    class_type = raw.get("class_type")
    if not isinstance(class_type, str) or not class_type:
        raise PromptError(
            "invalid_prompt",
            "Cannot execute because a node is missing the class_type property.",
            f"Node ID '#{node_id}'",
            {"node_id": node_id},
        )
    inputs = raw.get("inputs", {})
    if not isinstance(inputs, dict) and not isinstance(inputs, Mapping):
        raise PromptError(
            "invalid_prompt",
            f"Cannot execute because the inputs of node {node_id} are not an object.",
            f"Node ID '#{node_id}'",
            {"node_id": node_id, "class_type": class_type},
        )
    meta = raw.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    parsed = {str(name): _parse_value(v) for name, v in inputs.items()}
    return NodeCall(node_id, class_type, parsed, title if isinstance(title, str) else None)


def parse_prompt(prompt: Any) -> Graph:
    """Parse an API-format prompt; structural problems raise :class:`PromptError`."""
    if not isinstance(prompt, Mapping):
        raise PromptError(
            "invalid_prompt",
            "Cannot execute because the prompt is not an object of nodes.",
            f"got {type(prompt).__name__}",
        )
    graph = Graph()
    for raw_id, raw in prompt.items():
        node_id = str(raw_id)
        graph.nodes[node_id] = parse_node(node_id, raw)
    return graph
