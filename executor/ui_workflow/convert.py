"""Convert a ComfyUI UI workflow (what the editor saves) into an API-format prompt.

The result is what the ComfyUI frontend's ``graphToPrompt`` would send:
``{"<id>": {"class_type", "inputs": {name: value or ["<origin id>", slot]}, "_meta": {"title"}}}``.

- Widget values are read by the registry's widget order (see ``widgets``); a
  widget converted to an input and linked takes the link instead.
- Editor-only nodes never appear: ``Reroute`` is followed to the real origin, a
  ``PrimitiveNode``'s value becomes the constant of each widget it feeds, ``Note`` and
  ``MarkdownNote`` are ignored.
- Muted nodes (mode 2) are dropped and inputs linked to them removed. A bypassed node (mode 4)
  passes one of its inputs through to each consumer (``resolve``).
- A subgraph instance (``type`` = a subgraph id in ``definitions.subgraphs``) expands into its
  inner nodes with ids ``"<instance id>:<inner id>"``; unlinked subgraph inputs carry the
  instance's promoted widget values. A muted or bypassed instance drops all its inner nodes.
- An array constant is sent as ``{"__value__": [...]}`` (a bare 2-array would be a link).
- A node of a type the registry lacks cannot have its positional widgets mapped, so it is an
  error (unless muted or bypassed), as is any broken link; errors name the node.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from executor.ui_workflow.graph import (
    MODE_BYPASS,
    MODE_MUTED,
    PRIMITIVE,
    VIRTUAL_TYPES,
    Scope,
    UiGraph,
    WorkflowConversionError,
    node_inputs,
    node_mode,
    parse_definitions,
    parse_graph,
)
from executor.ui_workflow.resolve import Constant, Resolver
from executor.ui_workflow.widgets import WidgetValues
from nodes.api import Registry

__all__ = ["WorkflowConversionError", "convert_ui_workflow", "is_ui_workflow"]

logger = logging.getLogger(__name__)

ApiPrompt = dict[str, dict[str, Any]]


def is_ui_workflow(data: Any) -> bool:
    """Whether ``data`` is a UI workflow (a ``nodes`` list) rather than an API prompt."""
    return isinstance(data, Mapping) and isinstance(data.get("nodes"), list)


def convert_ui_workflow(workflow: Mapping[str, Any], registry: Registry) -> ApiPrompt:
    """The API-format prompt for a UI workflow (schema 0.4 or 1), subgraphs expanded."""
    if not is_ui_workflow(workflow):
        raise WorkflowConversionError("not a UI workflow: expected an object with a 'nodes' list")
    try:
        return _convert(workflow, registry)
    except WorkflowConversionError:
        raise
    except (TypeError, KeyError, IndexError, AttributeError, ValueError) as exc:
        # a shape the checks above did not foresee: still a named, clean refusal
        raise WorkflowConversionError(
            f"malformed workflow ({type(exc).__name__}: {exc})"[:300]
        ) from exc


def _convert(workflow: Mapping[str, Any], registry: Registry) -> ApiPrompt:
    root = Scope(parse_graph(workflow, "the workflow"))
    definitions = parse_definitions(workflow)
    widgets = WidgetValues(registry, definitions)
    resolver = Resolver(definitions, widgets.promoted)
    placed = list(_walk(root, definitions, ()))
    for scope, node in placed:
        if node.get("type") == PRIMITIVE:
            widgets.apply_primitive(scope, node)
    prompt: ApiPrompt = {}
    for scope, node in placed:
        entry = _emit(scope, node, registry, widgets, resolver)
        if entry is not None:
            prompt[scope.exec_id(node["id"])] = entry
    _drop_links_to_missing(prompt)
    logger.debug("converted UI workflow: %d nodes placed, %d emitted", len(placed), len(prompt))
    return prompt


def _walk(
    scope: Scope, definitions: Mapping[str, UiGraph], stack: tuple[str, ...]
) -> Iterator[tuple[Scope, Mapping[str, Any]]]:
    """Every node that can run, subgraph instances expanded (muted/bypassed ones skipped)."""
    for node in scope.graph.nodes.values():
        node_type = str(node.get("type"))
        definition = definitions.get(node_type)
        if definition is None:
            yield scope, node
            continue
        if node_mode(node) in (MODE_MUTED, MODE_BYPASS):
            continue
        if node_type in stack:
            raise WorkflowConversionError(
                "subgraph contains itself", node_id=scope.exec_id(node["id"]), node_type=node_type
            )
        yield from _walk(scope.child(node, definition), definitions, (*stack, node_type))


def _emit(
    scope: Scope,
    node: Mapping[str, Any],
    registry: Registry,
    widgets: WidgetValues,
    resolver: Resolver,
) -> dict[str, Any] | None:
    """The API entry of one node, or None for editor-only, muted and bypassed nodes."""
    node_type = node.get("type")
    exec_id = scope.exec_id(node["id"])
    if node_type in VIRTUAL_TYPES or node_mode(node) in (MODE_MUTED, MODE_BYPASS):
        return None
    if not isinstance(node_type, str) or node_type not in registry:
        raise WorkflowConversionError(_unknown_type_message(node_type), node_id=exec_id,
                                      node_type=str(node_type))
    cls = registry.get(node_type)
    inputs = {name: _wrap(value) for name, value in widgets.for_node(scope, node, cls).items()}
    for index, ui_input in enumerate(node_inputs(node)):
        name = ui_input.get("name")
        if not isinstance(name, str) or not name:
            continue
        resolved = resolver.resolve_input(scope, node, index, set())
        if isinstance(resolved, Constant):
            inputs[name] = _wrap(resolved.value)
        elif resolved is not None:
            inputs[name] = [resolved.origin, resolved.slot]
    title = node.get("title") or cls.display_name or node_type
    return {"class_type": node_type, "inputs": inputs, "_meta": {"title": title}}


def _unknown_type_message(node_type: Any) -> str:
    if not isinstance(node_type, str) or not node_type:
        return "node has no type"
    if node_type.startswith(("workflow>", "workflow/")):
        return f"legacy group node type {node_type!r} is not supported; convert it to a subgraph"
    return (
        f"node type {node_type!r} does not exist, so its widget values cannot be mapped "
        "to inputs"
    )


def _wrap(value: Any) -> Any:
    """Arrays are sent wrapped: a bare ``[id, slot]`` pair would read as a link."""
    return {"__value__": value} if isinstance(value, list) else value


def _drop_links_to_missing(prompt: ApiPrompt) -> None:
    """Remove inputs linked to nodes that were not emitted (muted ones)."""
    for entry in prompt.values():
        inputs = entry["inputs"]
        for name in [n for n, v in inputs.items() if _is_link(v) and v[0] not in prompt]:
            del inputs[name]


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
