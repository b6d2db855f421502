"""Following a UI link to the real output that feeds an input.

Mirrors the ComfyUI frontend's rules (``ExecutableNodeDTO.resolveInput/resolveOutput``):
reroutes pass through, a bypassed node (mode 4) hands over one of its own input links, links
into a subgraph instance continue at the inner node that feeds the subgraph output, and links
out of a subgraph's input node continue outside the instance, or end at the instance's
promoted widget value when the instance input is not linked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from executor.ui_workflow.graph import (
    MODE_BYPASS,
    VIRTUAL_TYPES,
    Scope,
    UiGraph,
    WorkflowConversionError,
    node_inputs,
    node_mode,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkRef:
    """An input fed by output ``slot`` of the node with execution id ``origin``."""

    origin: str
    slot: int


@dataclass(frozen=True)
class Constant:
    """An input that resolved to a value (a subgraph instance's promoted widget)."""

    value: Any


Resolved = LinkRef | Constant
PromotedValue = Callable[[Scope, Mapping[str, Any], UiGraph, int], Constant | None]


def types_compatible(a: Any, b: Any) -> bool:
    """LiteGraph's ``isValidConnection``: ``*``/empty match all; comma lists overlap."""
    left = "" if a in (None, "*") else str(a).lower()
    right = "" if b in (None, "*") else str(b).lower()
    if not left or not right or left == right:
        return True
    return bool(set(left.split(",")) & set(right.split(",")))


def bypass_input_index(node: Mapping[str, Any], slot: int, want: Any) -> int:
    """Which input of a bypassed node stands in for its output ``slot`` (-1: none).

    The input at the same index if its type fits both the output and the consumer, else the
    first input of exactly the consumer's type, else the first compatible one.
    """
    inputs = node_inputs(node)
    outputs = node.get("outputs") or []
    out_type = outputs[slot].get("type", "*") if slot < len(outputs) else "*"
    if want in ("*", "", None):
        return slot if len(inputs) > slot else 0
    if slot < len(inputs):
        same = inputs[slot].get("type", "*")
        if types_compatible(same, out_type) and types_compatible(same, want):
            return slot
    for index, ui_input in enumerate(inputs):
        if ui_input.get("type") == want:
            return index
    for index, ui_input in enumerate(inputs):
        kind = ui_input.get("type", "*")
        if types_compatible(kind, out_type) and types_compatible(kind, want):
            return index
    return -1


class Resolver:
    """Resolves inputs across reroutes, bypassed nodes and subgraph boundaries."""

    def __init__(self, definitions: Mapping[str, UiGraph], promoted: PromotedValue) -> None:
        self._definitions = definitions
        self._promoted = promoted

    def resolve_input(
        self,
        scope: Scope,
        node: Mapping[str, Any],
        index: int,
        visited: set[tuple[str, int, str]],
        want: Any = None,
    ) -> Resolved | None:
        """What feeds input ``index`` of ``node``: a link, a constant, or nothing."""
        exec_id = scope.exec_id(node["id"])
        _enter(visited, (exec_id, index, "in"), node)
        inputs = node_inputs(node)
        if index >= len(inputs) or inputs[index].get("link") is None:
            return None
        ui_input = inputs[index]
        link = scope.graph.link(ui_input["link"], exec_id, str(node.get("type")))
        if scope.instance is not None and str(link.origin_id) == scope.graph.input_node_id:
            return self._from_instance_input(scope, link.origin_slot, visited)
        origin = scope.graph.nodes.get(str(link.origin_id))
        if origin is None:
            raise WorkflowConversionError(
                f"input {ui_input.get('name')!r} is linked to node {link.origin_id}, "
                f"which {scope.graph.name} does not contain",
                node_id=exec_id,
                node_type=str(node.get("type")),
            )
        kind = want if want is not None else ui_input.get("type", "*")
        return self.resolve_output(scope, origin, link.origin_slot, kind, visited)

    def resolve_output(
        self,
        scope: Scope,
        node: Mapping[str, Any],
        slot: int,
        want: Any,
        visited: set[tuple[str, int, str]],
    ) -> Resolved | None:
        """The real output behind output ``slot`` of ``node`` (a consumer wants ``want``)."""
        exec_id = scope.exec_id(node["id"])
        _enter(visited, (exec_id, slot, "out"), node)
        if node_mode(node) == MODE_BYPASS:
            index = bypass_input_index(node, slot, want)
            if index < 0:
                logger.debug("bypassed node %s has no input of type %s", exec_id, want)
                return None
            return self.resolve_input(scope, node, index, visited)
        definition = self._definitions.get(str(node.get("type")))
        if definition is not None:
            return self._from_instance_output(scope, node, definition, slot, want, visited)
        if node.get("type") in VIRTUAL_TYPES:
            return self.resolve_input(scope, node, slot, visited, want)
        return LinkRef(exec_id, slot)

    def _from_instance_input(
        self, scope: Scope, sub_slot: int, visited: set[tuple[str, int, str]]
    ) -> Resolved | None:
        """A link out of a subgraph's input node: continue outside the instance, else take the
        instance's promoted widget value."""
        assert scope.instance is not None and scope.parent is not None
        instance, parent = scope.instance, scope.parent
        where = parent.exec_id(instance["id"])
        index = instance_input_index(instance, scope.graph, sub_slot, where)
        if index is not None and node_inputs(instance)[index].get("link") is not None:
            resolved = self.resolve_input(parent, instance, index, visited)
            if resolved is not None:
                return resolved
        # As a linked widget whose link leads nowhere keeps its value: the promoted widget.
        return self._promoted(parent, instance, scope.graph, sub_slot)

    def _from_instance_output(
        self,
        scope: Scope,
        instance: Mapping[str, Any],
        definition: UiGraph,
        slot: int,
        want: Any,
        visited: set[tuple[str, int, str]],
    ) -> Resolved | None:
        """Output ``slot`` of a subgraph instance: the inner node feeding that output."""
        inner = scope.child(instance, definition)
        if slot >= len(definition.outputs):
            raise WorkflowConversionError(
                f"output slot {slot} does not exist (the subgraph has "
                f"{len(definition.outputs)} outputs)",
                node_id=scope.exec_id(instance["id"]),
                node_type=str(instance.get("type")),
            )
        link_ids = definition.outputs[slot].get("linkIds") or []
        if not link_ids:
            return None
        link = definition.link(link_ids[0], scope.exec_id(instance["id"]), definition.name)
        if str(link.origin_id) == definition.input_node_id:
            return self._from_instance_input(inner, link.origin_slot, visited)
        origin = definition.nodes.get(str(link.origin_id))
        if origin is None:
            raise WorkflowConversionError(
                f"subgraph output {slot} comes from node {link.origin_id}, which "
                f"{definition.name} does not contain",
                node_id=scope.exec_id(instance["id"]),
                node_type=str(instance.get("type")),
            )
        return self.resolve_output(inner, origin, link.origin_slot, want, visited)


def instance_input_index(
    instance: Mapping[str, Any], definition: UiGraph, sub_slot: int, exec_id: str
) -> int | None:
    """The index in the instance's ``inputs`` of subgraph input ``sub_slot`` (by name)."""
    if sub_slot >= len(definition.inputs):
        raise WorkflowConversionError(
            f"input slot {sub_slot} does not exist in {definition.name}",
            node_id=exec_id,
            node_type=str(instance.get("type")),
        )
    name = definition.inputs[sub_slot].get("name")
    for index, ui_input in enumerate(node_inputs(instance)):
        if ui_input.get("name") == name:
            return index
    return None


def _enter(visited: set[tuple[str, int, str]], key: tuple[str, int, str], node: Any) -> None:
    if key in visited:
        raise WorkflowConversionError(
            f"circular link while resolving {key[2]}put {key[1]}",
            node_id=key[0],
            node_type=str(node.get("type")),
        )
    visited.add(key)
