"""Validation: every problem of every needed node, with ComfyUI's codes and shapes.

Only nodes needed by the requested outputs (every output node, or the given targets — any node
may be a target) are validated. A node that is invalid only because a node upstream of it is
invalid is not reported again. Constants are coerced by the declared input types (see the
coercion table in ``nodes.api.inputs``); omitted inputs that declare a default get it, so an
omitted input and its default mean the same thing everywhere, cache keys included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from executor.errors import InputIssue, PromptError
from executor.estimate import estimate_nodes
from executor.graph import BadLink, Graph, LinkRef, parse_prompt
from executor.topology import ancestors, find_cycles, topological_order
from nodes.api import (
    CoercionError,
    Combo,
    FingerprintContext,
    Input,
    Link,
    MemoryBudget,
    MemoryEstimate,
    Node,
    Registry,
    SchemaContext,
)
from nodes.api.text import shown

ECHO_CHARS = 200

FingerprintContexts = Callable[[str], FingerprintContext]


@dataclass(slots=True)
class BoundNode:
    """A validated node: its class, coerced constants and links, by input name."""

    node_id: str
    cls: type[Node]
    constants: dict[str, Any]
    links: dict[str, LinkRef]


@dataclass
class ValidatedPrompt:
    """What validation leaves for the run: valid outputs and the nodes they need, in order."""

    prompt: Mapping[str, Any]
    graph: Graph
    nodes: dict[str, BoundNode]
    order: list[str]
    outputs: list[str]
    node_errors: dict[str, Any] = field(default_factory=dict)
    failed_outputs: list[str] = field(default_factory=list)
    estimates: dict[str, MemoryEstimate] = field(default_factory=dict)


def _input_config(inp: Input, schema: SchemaContext) -> list[Any] | None:
    if isinstance(inp, Combo) and len(inp.options_list(schema)) > 20:
        return None
    return inp.v1(schema)


def _issue(code: str, message: str, details: str, inp: Input, schema: SchemaContext,
           **extra: Any) -> InputIssue:
    info = {"input_name": inp.name, "input_config": _input_config(inp, schema), **extra}
    return InputIssue(code, message, details, info)


def _check_link(graph: Graph, registry: Registry, inp: Input, link: LinkRef) -> InputIssue | None:
    source = graph.nodes.get(link.node_id)
    if source is None:
        return _issue(
            "linked_node_missing", "Linked node does not exist",
            f"{inp.name}: node {link.node_id!r} is not in the prompt", inp, registry.schema,
            linked_node=[link.node_id, link.slot],
        )
    outputs = registry.get(source.class_type).outputs
    if link.slot >= len(outputs):
        return _issue(
            "linked_slot_missing", "Linked output slot does not exist",
            f"{inp.name}: node {link.node_id!r} ({source.class_type}) has {len(outputs)} "
            f"outputs, slot {link.slot} requested", inp, registry.schema,
            linked_node=[link.node_id, link.slot],
        )
    received = outputs[link.slot].type_name
    if not inp.accepts_type(received):
        return _issue(
            "return_type_mismatch", "Return type mismatch between linked nodes",
            f"{inp.name}, received_type({received}) mismatch input_type({inp.type_name})", inp,
            registry.schema, received_type=received, linked_node=[link.node_id, link.slot],
        )
    return None


def _check_constant(inp: Input, raw: Any, schema: SchemaContext
                    ) -> tuple[Any, InputIssue | None]:
    if isinstance(inp, Link):
        return None, _issue(
            "invalid_input_type", f"Input expects a link from a {inp.type_name} output",
            f"{inp.name}, {shown(raw)}", inp, schema, received_value=_echo(raw),
            exception_message="a constant cannot stand in for a link",
        )
    try:
        value = inp.coerce(raw)
    except CoercionError as exc:
        return None, _issue(
            "invalid_input_type", f"Failed to convert an input value to a {inp.type_name} value",
            f"{inp.name}, {shown(raw)}, {exc}", inp, schema, received_value=_echo(raw),
            exception_message=str(exc),
        )
    problem = inp.check(value, schema)
    if problem is not None:
        return None, _issue(
            problem.code, problem.message, f"{inp.name}: {problem.details}", inp, schema,
            received_value=_echo(value),
        )
    return value, None


def _echo(value: Any) -> Any:
    """A received value as an error echoes it: long text and huge integers are cut short
    (JSON-safe: lone surrogates become ``\\ud800`` on the wire)."""
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return f"{value[:ECHO_CHARS]}… ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return shown(value)
    return value


def _check_inputs(
    graph: Graph, registry: Registry, node_id: str
) -> tuple[BoundNode, list[InputIssue]]:
    call = graph.nodes[node_id]
    cls = registry.get(call.class_type)
    bound = BoundNode(node_id, cls, {}, {})
    issues: list[InputIssue] = []
    for inp in cls.inputs:
        issue: InputIssue | None = None
        if inp.name not in call.inputs:
            if inp.has_default:
                bound.constants[inp.name] = inp.coerce(inp.default)
            elif not inp.optional:
                issues.append(
                    _issue("required_input_missing", "Required input is missing", inp.name, inp,
                           registry.schema)
                )
            continue
        raw = call.inputs[inp.name]
        if isinstance(raw, BadLink):
            issue = _issue(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                f"{inp.name}, {shown(raw.value)}", inp, registry.schema,
                received_value=raw.value,
            )
        elif isinstance(raw, LinkRef):
            issue = _check_link(graph, registry, inp, raw)
            bound.links[inp.name] = raw
        else:
            value, issue = _check_constant(inp, raw, registry.schema)
            bound.constants[inp.name] = value
        if issue is not None:
            issues.append(issue)
    return bound, issues


def _has_custom_validation(cls: type[Node]) -> bool:
    return cls.validate.__func__ is not Node.validate.__func__  # type: ignore[attr-defined]


def _custom_validation(bound: BoundNode, fctx: FingerprintContext) -> InputIssue | None:
    values = {i.name: bound.constants.get(i.name) for i in bound.cls.inputs}
    try:
        message = bound.cls.validate(fctx, **values)
    except Exception as exc:  # a plugin's validator must not take the server down
        message = f"{type(exc).__name__}: {exc}"
    if message is None or message is True:
        return None
    text = "validation refused the inputs" if message is False else str(message)
    return InputIssue(
        "custom_validation_failed", "Custom validation failed for node",
        f"{bound.cls.type_name} - {text}", {"input_name": ""},
    )


def _select_outputs(graph: Graph, registry: Registry, targets: Sequence[str] | None) -> list[str]:
    if targets is None:
        return [nid for nid, c in graph.nodes.items() if registry.get(c.class_type).output_node]
    missing = [t for t in targets if str(t) not in graph.nodes]
    if missing:
        raise PromptError(
            "invalid_prompt", "Cannot execute because a target node is not in the prompt.",
            f"targets {missing!r} not found", {"targets": [str(t) for t in missing]},
        )
    return list(dict.fromkeys(str(t) for t in targets))


def _check_types_known(graph: Graph, registry: Registry) -> None:
    for node_id, call in graph.nodes.items():
        if call.class_type not in registry:
            issue = InputIssue(
                "unknown_node_type", f"Node type {call.class_type!r} does not exist",
                f"Node ID '#{node_id}'", {"class_type": call.class_type},
            )
            raise PromptError(
                "invalid_prompt",
                f"Cannot execute because node {call.class_type} does not exist.",
                f"Node ID '#{node_id}'", {"node_id": node_id, "class_type": call.class_type},
                node_errors={node_id: {"errors": [issue.to_dict()], "dependent_outputs": [],
                                       "class_type": call.class_type}},
            )


def _linked_types(graph: Graph, registry: Registry, node: BoundNode) -> dict[str, Any]:
    """The declared output type feeding each linked input (links already checked)."""
    found = {}
    for name, ref in node.links.items():
        source = graph.nodes[ref.node_id]
        found[name] = registry.get(source.class_type).outputs[ref.slot].type_name
    return found


def bind_node(graph: Graph, registry: Registry, node_id: str
              ) -> tuple[BoundNode, list[InputIssue]]:
    """One node of ``graph`` bound to its class: constants coerced and checked, links checked
    against their sources (node expansion binds the nodes it adds this way)."""
    return _check_inputs(graph, registry, node_id)


def _own_issues(
    graph: Graph, registry: Registry, needed: list[str], cyclic: dict[str, str],
    fctx_for: FingerprintContexts,
) -> tuple[dict[str, BoundNode], dict[str, list[InputIssue]]]:
    bound: dict[str, BoundNode] = {}
    issues: dict[str, list[InputIssue]] = {}
    for node_id in needed:
        node, found = _check_inputs(graph, registry, node_id)
        if not found and _has_custom_validation(node.cls):
            fctx = dataclasses.replace(fctx_for(node_id),
                                       input_types=_linked_types(graph, registry, node))
            custom = _custom_validation(node, fctx)
            found = [custom] if custom else []
        if node_id in cyclic:
            found.append(InputIssue("dependency_cycle", "Dependency cycle detected",
                                    cyclic[node_id], {"cycle": cyclic[node_id]}))
        bound[node_id] = node
        if found:
            issues[node_id] = found
    return bound, issues


def _node_errors(
    graph: Graph, issues: dict[str, list[InputIssue]], needs: Mapping[str, Collection[str]]
) -> dict[str, Any]:
    return {
        node_id: {
            "errors": [i.to_dict() for i in found],
            "dependent_outputs": [o for o, anc in needs.items() if node_id in anc],
            "class_type": graph.nodes[node_id].class_type,
        }
        for node_id, found in issues.items()
    }


def _default_contexts(registry: Registry) -> FingerprintContexts:
    schema = registry.schema
    return lambda nid: FingerprintContext(node_id=nid, folders=schema.folders,
                                          model_files=schema.model_files,
                                          sampling=schema.sampling)


def validate_prompt(
    prompt: Mapping[str, Any],
    registry: Registry,
    *,
    targets: Sequence[str] | None = None,
    strict: bool = False,
    fingerprint_context: FingerprintContexts | None = None,
    memory: MemoryBudget | None = None,
) -> ValidatedPrompt:
    """Validate a prompt; raise :class:`PromptError` unless some requested output may run.

    In strict mode any invalid output fails the whole prompt. Nodes that estimate their memory
    are checked against ``memory`` (``executor.estimate``).
    """
    graph = parse_prompt(prompt)
    _check_types_known(graph, registry)
    outputs = _select_outputs(graph, registry, targets)
    if not outputs:
        raise PromptError("prompt_no_outputs", "Prompt has no outputs")
    order, leftover = topological_order(graph, list(ancestors(graph, *outputs)))
    cyclic = find_cycles(graph, leftover) if leftover else {}
    fctx_for = fingerprint_context or _default_contexts(registry)
    bound, issues = _own_issues(graph, registry, order + leftover, cyclic, fctx_for)
    estimates, too_big = estimate_nodes(bound, order, issues, fctx_for, memory or MemoryBudget())
    for node_id, issue in too_big.items():
        issues.setdefault(node_id, []).append(issue)
    if not issues and not leftover:
        return ValidatedPrompt(prompt, graph, bound, order, outputs, estimates=estimates)
    partial = _partial(graph, bound, order, leftover, outputs, issues, strict)
    return ValidatedPrompt(prompt, graph, *partial, estimates=estimates)


def _partial(
    graph: Graph, bound: dict[str, BoundNode], order: list[str], leftover: list[str],
    outputs: list[str], issues: dict[str, list[InputIssue]], strict: bool,
) -> tuple[dict[str, BoundNode], list[str], list[str], dict[str, Any], list[str]]:
    """What may still run when some nodes are invalid, or :class:`PromptError`."""
    invalid = set(issues) | set(leftover)
    for node_id in order:
        if any(ref.node_id in invalid for ref in bound[node_id].links.values()):
            invalid.add(node_id)
    needs = {out: ancestors(graph, out) for out in outputs}
    node_errors = _node_errors(graph, issues, needs)
    valid_outputs = [o for o in outputs if o not in invalid]
    failed = [o for o in outputs if o in invalid]
    if not valid_outputs or (strict and failed):
        details = "\n".join(
            f"{i.message}: {i.details}" for found in issues.values() for i in found
        )
        raise PromptError(
            "prompt_outputs_failed_validation", "Prompt outputs failed validation", details,
            node_errors=node_errors,
        )
    keep = set(ancestors(graph, *valid_outputs))
    return ({n: bound[n] for n in order if n in keep}, [n for n in order if n in keep],
            valid_outputs, node_errors, failed)
