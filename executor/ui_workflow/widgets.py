"""Widget values of UI nodes: positional ``widgets_values``, PrimitiveNode values, promoted
subgraph widgets.

``widgets_values`` lists one value per widget input in declaration order. A widget may be
followed by UI-only values (``Input.extra_widget_values()``): the ``control_after_generate``
mode after a seed ("fixed", "randomize" …, ``true`` in some old files) and LoadImage's "upload"
value. Workflows saved before ``control_after_generate`` existed have no such value; a seed's
control slot is therefore only skipped when it holds a control mode. Some nodes store an object
by widget name instead, and newer frontends also write ``widgets_values_named``, which is used
when the positional list does not fit the node's declaration. A widget the saved workflow has
no value for (added to the node since) gets its declared default, as the editor would send it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from executor.ui_workflow.graph import (
    REROUTE,
    Scope,
    UiGraph,
    UiLink,
    WorkflowConversionError,
    node_inputs,
    widget_name,
)
from executor.ui_workflow.resolve import Constant
from nodes.api import Combo, Input, Link, Node, Registry

logger = logging.getLogger(__name__)

CONTROL_MODES = frozenset({"fixed", "increment", "decrement", "randomize"})
_MISSING = object()


def widget_inputs(node: type[Node]) -> list[Input]:
    """The inputs shown as widgets, in declaration (and so ``widgets_values``) order."""
    return [i for i in node.inputs if i.is_widget]


def _has_control_value(value: Any) -> bool:
    return isinstance(value, bool) or value in CONTROL_MODES


def map_positional(
    widgets: Sequence[Input], values: Sequence[Any]
) -> tuple[dict[str, Any], int]:
    """Widget values by name from a positional list, and how many slots the list should have."""
    mapped: dict[str, Any] = {}
    position = 0
    for declared in widgets:
        if position < len(values):
            mapped[declared.name] = values[position]
        position += 1
        extra = declared.extra_widget_values()
        if getattr(declared, "control_after_generate", False) and position < len(values):
            if not _has_control_value(values[position]):
                extra -= 1  # saved before control_after_generate existed
        position += extra
    return mapped, position


def map_named(widgets: Sequence[Input], values: Mapping[str, Any]) -> dict[str, Any]:
    """Widget values from an object keyed by widget name (UI-only keys are dropped)."""
    return {w.name: values[w.name] for w in widgets if w.name in values}


@dataclass(frozen=True)
class _Source:
    """The inner widget a subgraph input promotes onto the instance."""

    sub_slot: int
    scope: Scope
    node: Mapping[str, Any]
    widget: str
    nested: UiGraph | None = None
    nested_slot: int = -1


class WidgetValues:
    """Widget values of every node, with PrimitiveNode values applied to their targets."""

    def __init__(self, registry: Registry, definitions: Mapping[str, UiGraph]) -> None:
        self._registry = registry
        self._definitions = definitions
        self._overrides: dict[str, dict[str, Any]] = {}

    def for_node(self, scope: Scope, node: Mapping[str, Any], cls: type[Node]) -> dict[str, Any]:
        """The constant of each widget input of ``node`` (before links replace some)."""
        exec_id = scope.exec_id(node["id"])
        widgets = widget_inputs(cls)
        saved = _declared_values(node, widgets, exec_id)
        values = {}
        for declared in widgets:  # the editor creates every widget, saved or not
            value = saved.get(declared.name, _default(declared))
            if value is not _MISSING:
                values[declared.name] = value
        constants = {i.name for i in cls.inputs if not isinstance(i, Link)}
        for name, value in self._overrides.get(exec_id, {}).items():
            if name in constants:
                values[name] = value
        return values

    def apply_primitive(self, scope: Scope, node: Mapping[str, Any]) -> None:
        """Record a PrimitiveNode's value as the constant of every widget it feeds."""
        raw = node.get("widgets_values")
        if isinstance(raw, list) and raw:
            value = raw[0]
        elif isinstance(raw, Mapping) and "value" in raw:
            value = raw["value"]
        elif isinstance(node.get("widgets_values_named"), Mapping):
            value = node["widgets_values_named"].get("value", _MISSING)
        else:
            value = _MISSING
        if value is _MISSING:
            logger.debug("PrimitiveNode %s has no value", scope.exec_id(node["id"]))
            return
        for link in _links_through_reroutes(scope.graph, node):
            target = scope.graph.nodes.get(str(link.target_id))
            inputs = node_inputs(target) if target is not None else []
            if link.target_slot >= len(inputs):
                continue
            name = widget_name(inputs[link.target_slot]) or inputs[link.target_slot].get("name")
            if isinstance(name, str):
                self._overrides.setdefault(scope.exec_id(link.target_id), {})[name] = value

    def promoted(
        self, parent: Scope, instance: Mapping[str, Any], definition: UiGraph, sub_slot: int
    ) -> Constant | None:
        """The value an unlinked subgraph input gives the inner inputs it feeds."""
        sources = self._sources(parent.child(instance, definition), definition)
        source = next((s for s in sources if s.sub_slot == sub_slot), None)
        if source is None:
            return None
        name = definition.inputs[sub_slot].get("name")
        override = self._overrides.get(parent.exec_id(instance["id"]), {})
        if name in override:
            return Constant(override[name])
        value = self._instance_value(instance, sources, source)
        if value is not _MISSING:
            return Constant(value)
        return self._source_default(source)

    def _instance_value(
        self, instance: Mapping[str, Any], sources: list[_Source], source: _Source
    ) -> Any:
        """The instance's own value for a promoted widget, positional or by name."""
        raw = instance.get("widgets_values")
        named = instance.get("widgets_values_named")
        named = named if isinstance(named, Mapping) else raw
        name = source.scope.graph.inputs[source.sub_slot].get("name")
        if isinstance(named, Mapping) and named.get(name) is not None:
            return named[name]
        if not isinstance(raw, list):
            return _MISSING
        legacy = len(raw) > len(sources)  # older files keep a control value after a seed
        position = 0
        for candidate in sources:
            if candidate is source:
                found = raw[position] if position < len(raw) else None
                return _MISSING if found is None else found
            position += 1 + (1 if legacy and self._has_control(candidate) else 0)
        return _MISSING

    def _has_control(self, source: _Source) -> bool:
        node_type = str(source.node.get("type"))
        if source.nested is not None or node_type not in self._registry:
            return False
        cls = self._registry.get(node_type)
        declared = next((i for i in cls.inputs if i.name == source.widget), None)
        return bool(getattr(declared, "control_after_generate", False))

    def _source_default(self, source: _Source) -> Constant | None:
        """No value on the instance: the inner widget's own value."""
        if source.nested is not None:
            return self.promoted(source.scope, source.node, source.nested, source.nested_slot)
        node_type = str(source.node.get("type"))
        if node_type not in self._registry:
            return None
        values = self.for_node(source.scope, source.node, self._registry.get(node_type))
        return Constant(values[source.widget]) if source.widget in values else None

    def _sources(self, inner: Scope, definition: UiGraph) -> list[_Source]:
        """The promoted subgraph inputs (those feeding a widget), in subgraph input order."""
        found = []
        for sub_slot in range(len(definition.inputs)):
            source = self._source(inner, definition, sub_slot)
            if source is not None:
                found.append(source)
        return found

    def _source(self, inner: Scope, definition: UiGraph, sub_slot: int) -> _Source | None:
        for link_id in definition.inputs[sub_slot].get("linkIds") or []:
            link = definition.links.get(str(link_id))
            target = definition.nodes.get(str(link.target_id)) if link else None
            if link is None or target is None:
                continue
            entry = next(
                (i for i in node_inputs(target) if str(i.get("link")) == str(link.id)), None
            )
            name = widget_name(entry) if entry is not None else None
            if entry is None or name is None:
                continue
            nested = self._definitions.get(str(target.get("type")))
            if nested is None:
                return _Source(sub_slot, inner, target, name)
            nested_slot = _input_slot(nested, entry.get("name"))
            nested_scope = inner.child(target, nested)
            if nested_slot >= 0 and self._source(nested_scope, nested, nested_slot):
                return _Source(sub_slot, inner, target, name, nested, nested_slot)
        return None


def _default(declared: Input) -> Any:
    """The value the editor gives a widget the saved workflow has no value for."""
    default = getattr(declared, "default", None)
    if default is not None:
        return default
    if isinstance(declared, Combo) and not callable(declared.choices) and declared.choices:
        return declared.choices[0]
    return _MISSING


def _input_slot(definition: UiGraph, name: Any) -> int:
    for index, sub_input in enumerate(definition.inputs):
        if sub_input.get("name") == name:
            return index
    return -1


def _declared_values(
    node: Mapping[str, Any], widgets: Sequence[Input], exec_id: str
) -> dict[str, Any]:
    raw = node.get("widgets_values")
    named = node.get("widgets_values_named")
    if isinstance(raw, Mapping):
        return map_named(widgets, raw)
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise WorkflowConversionError(
            f"widgets_values must be a list or an object, got {type(raw).__name__}",
            node_id=exec_id,
            node_type=str(node.get("type")),
        )
    mapped, expected = map_positional(widgets, raw)
    if len(raw) != expected and isinstance(named, Mapping):
        logger.debug("node %s: %d widget values, %d slots; by name", exec_id, len(raw), expected)
        return map_named(widgets, named)
    if len(raw) > expected:
        logger.debug("node %s: %d extra widget values ignored", exec_id, len(raw) - expected)
    return mapped


def _output_links(graph: UiGraph, node: Mapping[str, Any]) -> list[UiLink]:
    """The links a node's outputs list (the node's own record, not stale graph links)."""
    found = []
    for output in node.get("outputs") or []:
        for link_id in (output.get("links") or []) if isinstance(output, Mapping) else []:
            link = graph.links.get(str(link_id))
            if link is not None and str(link.origin_id) == str(node["id"]):
                found.append(link)
    return found


def _links_through_reroutes(graph: UiGraph, node: Mapping[str, Any]) -> list[UiLink]:
    """Links leaving ``node``, continuing through Reroute nodes to the real targets."""
    found: list[UiLink] = []
    pending = _output_links(graph, node)
    seen: set[str] = set()
    while pending:
        link = pending.pop(0)
        target = graph.nodes.get(str(link.target_id))
        if target is not None and target.get("type") == REROUTE:
            if str(link.target_id) not in seen:
                seen.add(str(link.target_id))
                pending.extend(_output_links(graph, target))
            continue
        found.append(link)
    return found
