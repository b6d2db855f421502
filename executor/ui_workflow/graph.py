"""The parsed shape of a ComfyUI UI workflow: graphs, links, subgraph definitions, scopes.

A UI workflow is a root graph plus subgraph definitions (``definitions.subgraphs``), each a graph
of its own with an input node (id -10) and an output node (id -20). Links come in two forms:
schema 0.4 arrays ``[id, origin_id, origin_slot, target_id, target_slot, type]`` and schema 1
objects ``{id, origin_id, origin_slot, target_id, target_slot, type}``. Node ids inside an
expanded subgraph instance are colon-joined paths: ``"12:5"``, nested ``"12:5:3"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Node types that exist only in the editor: never sent to the backend.
REROUTE = "Reroute"
PRIMITIVE = "PrimitiveNode"
NOTE_TYPES = frozenset({"Note", "MarkdownNote"})
VIRTUAL_TYPES = frozenset({REROUTE, PRIMITIVE}) | NOTE_TYPES

MODE_MUTED = 2
MODE_BYPASS = 4

_DEFAULT_INPUT_NODE_ID = -10
_DEFAULT_OUTPUT_NODE_ID = -20


class WorkflowConversionError(ValueError):
    """A UI workflow cannot be converted; names the node at fault where there is one."""

    def __init__(
        self, message: str, *, node_id: str | None = None, node_type: str | None = None
    ) -> None:
        where = ""
        if node_id is not None:
            where = f"node {node_id}" + (f" ({node_type})" if node_type else "") + ": "
        super().__init__(f"{where}{message}")
        self.node_id = node_id
        self.node_type = node_type
        self.reason = message


@dataclass(frozen=True)
class UiLink:
    """One link, whichever schema wrote it."""

    id: int
    origin_id: int | str
    origin_slot: int
    target_id: int | str
    target_slot: int
    type: str


def parse_link(raw: Any, where: str) -> UiLink:
    """Read a link in the 0.4 array form or the schema-1 object form."""
    try:
        if isinstance(raw, Mapping):
            return UiLink(
                id=raw["id"],
                origin_id=raw["origin_id"],
                origin_slot=int(raw["origin_slot"]),
                target_id=raw["target_id"],
                target_slot=int(raw["target_slot"]),
                type=str(raw.get("type", "*")),
            )
        if isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) >= 5:
            link_type = raw[5] if len(raw) > 5 else "*"
            return UiLink(raw[0], raw[1], int(raw[2]), raw[3], int(raw[4]), str(link_type))
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkflowConversionError(f"malformed link {raw!r} in {where}: {exc}") from None
    raise WorkflowConversionError(f"malformed link {raw!r} in {where}")


@dataclass
class UiGraph:
    """The root graph or one subgraph definition."""

    name: str
    nodes: dict[str, Mapping[str, Any]]
    links: dict[str, UiLink]
    inputs: list[Mapping[str, Any]] = field(default_factory=list)
    outputs: list[Mapping[str, Any]] = field(default_factory=list)
    input_node_id: str = str(_DEFAULT_INPUT_NODE_ID)
    output_node_id: str = str(_DEFAULT_OUTPUT_NODE_ID)

    def link(self, link_id: Any, node_id: str, node_type: str) -> UiLink:
        found = self.links.get(str(link_id))
        if found is None:
            raise WorkflowConversionError(
                f"refers to link {link_id} which {self.name} does not contain",
                node_id=node_id,
                node_type=node_type,
            )
        return found


def parse_graph(data: Mapping[str, Any], name: str) -> UiGraph:
    """Read the nodes, links and (for a subgraph) IO slots of one graph."""
    raw_nodes = data.get("nodes") or []
    if not isinstance(raw_nodes, list):
        raise WorkflowConversionError(f"'nodes' of {name} must be a list")
    nodes: dict[str, Mapping[str, Any]] = {}
    for node in raw_nodes:
        if not isinstance(node, Mapping) or "id" not in node:
            raise WorkflowConversionError(f"a node of {name} has no id: {node!r}"[:200])
        if not isinstance(node.get("type"), str):
            raise WorkflowConversionError(
                f"node {node['id']!r} of {name} has no type name: {node.get('type')!r}"[:200],
                node_id=str(node["id"]),
            )
        nodes[str(node["id"])] = node
    links = {}
    for raw in data.get("links") or []:
        parsed = parse_link(raw, name)
        links[str(parsed.id)] = parsed
    return UiGraph(
        name=name,
        nodes=nodes,
        links=links,
        inputs=list(data.get("inputs") or []),
        outputs=list(data.get("outputs") or []),
        input_node_id=str((data.get("inputNode") or {}).get("id", _DEFAULT_INPUT_NODE_ID)),
        output_node_id=str((data.get("outputNode") or {}).get("id", _DEFAULT_OUTPUT_NODE_ID)),
    )


def parse_definitions(workflow: Mapping[str, Any]) -> dict[str, UiGraph]:
    """Every subgraph definition by id, nested ``definitions`` included."""
    found: dict[str, UiGraph] = {}
    pending = [workflow]
    while pending:
        holder = pending.pop()
        for raw in (holder.get("definitions") or {}).get("subgraphs") or []:
            if not isinstance(raw, Mapping) or "id" not in raw:
                raise WorkflowConversionError("a subgraph definition has no id")
            sub_id = str(raw["id"])
            found[sub_id] = parse_graph(raw, f"subgraph {raw.get('name') or sub_id!r}")
            pending.append(raw)
    return found


@dataclass(frozen=True)
class Scope:
    """Where a graph sits: the root, or inside a subgraph instance (with its parent scope)."""

    graph: UiGraph
    path: tuple[str, ...] = ()
    instance: Mapping[str, Any] | None = None
    parent: Scope | None = None

    def exec_id(self, node_id: Any) -> str:
        return ":".join((*self.path, str(node_id)))

    def child(self, instance: Mapping[str, Any], definition: UiGraph) -> Scope:
        return Scope(definition, (*self.path, str(instance["id"])), instance, self)


def node_inputs(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [i for i in node.get("inputs") or [] if isinstance(i, Mapping)]


def node_mode(node: Mapping[str, Any]) -> int:
    mode = node.get("mode", 0)
    return mode if isinstance(mode, int) else 0


def widget_name(ui_input: Mapping[str, Any]) -> str | None:
    """The widget an input entry stands for (a widget converted to an input), if any."""
    widget = ui_input.get("widget")
    name = widget.get("name") if isinstance(widget, Mapping) else None
    return name if isinstance(name, str) else None
