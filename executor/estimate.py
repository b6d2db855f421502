"""Memory estimates of a prompt's nodes against the engine's budget (``nodes.api.memory``).

Run at validation, in the order the nodes would run: each node that declares
``estimate_memory`` gets its constants and, for each link, the ``TensorSpec`` its producer's
estimate declared (or ``None``). A node whose estimate passes the budget gets an
``exceeds_memory_budget`` issue that names the node, its inputs, the estimate and the budget,
so the job is refused before anything runs. An estimator that raises is logged and ignored: an
estimate may refuse a job, never crash validation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from executor.errors import InputIssue
from nodes.api import FingerprintContext, MemoryBudget, MemoryEstimate, Node, TensorSpec
from nodes.api.memory import format_bytes
from nodes.api.text import shown

if TYPE_CHECKING:
    from executor.validate import BoundNode

logger = logging.getLogger(__name__)
BUDGET_CODE = "exceeds_memory_budget"


def has_estimate(cls: type[Node]) -> bool:
    return cls.estimate_memory.__func__ is not Node.estimate_memory.__func__  # type: ignore[attr-defined]


def _inputs(node: BoundNode, specs: Mapping[str, tuple[TensorSpec | None, ...]]
            ) -> dict[str, Any]:
    values: dict[str, Any] = {i.name: node.constants.get(i.name) for i in node.cls.inputs}
    for name, ref in node.links.items():
        produced = specs.get(ref.node_id, ())
        values[name] = produced[ref.slot] if ref.slot < len(produced) else None
    return values


def _needs(estimate: MemoryEstimate, budget: MemoryBudget) -> list[tuple[int, int, str]]:
    """(needed, available, where) for each memory the budget knows."""
    if budget.device_is_host:
        total = estimate.device_bytes + estimate.host_bytes
        return [(total, budget.host, "RAM")] if budget.host is not None else []
    found = []
    if budget.device is not None:
        found.append((estimate.device_bytes, budget.device, budget.device_name))
    if budget.host is not None:
        found.append((estimate.host_bytes, budget.host, "RAM"))
    return found


def _shown_inputs(node: BoundNode, inputs: Mapping[str, Any]) -> dict[str, str]:
    """Each input as the error shows it: constants by value, links by source and shape."""
    shown_inputs = {name: shown(value, 40) for name, value in node.constants.items()}
    for name, ref in node.links.items():
        spec = inputs.get(name)
        size = "×".join(map(str, spec.shape)) + " from " if isinstance(spec, TensorSpec) else ""
        shown_inputs[name] = f"{size}node {ref.node_id}"
    return shown_inputs


def over_budget(node: BoundNode, estimate: MemoryEstimate, budget: MemoryBudget,
                inputs: Mapping[str, Any]) -> InputIssue | None:
    for needed, available, where in _needs(estimate, budget):
        if needed <= available:
            continue
        named = _shown_inputs(node, inputs)
        listed = ", ".join(f"{k}={v}" for k, v in named.items())
        advice = estimate.advice or "use smaller sizes or a smaller batch"
        return InputIssue(
            BUDGET_CODE, f"{node.cls.type_name} needs more memory than this machine has",
            f"{node.cls.type_name} ({listed}) needs at least {format_bytes(needed)} of {where} "
            f"for {estimate.what or 'its tensors'}; there are {format_bytes(available)} in all. "
            f"To run it, {advice}.",
            {"input_name": "", "estimate_bytes": needed, "budget_bytes": available,
             "memory": where, "inputs": named},
        )
    return None


def _estimate(node: BoundNode, ctx: FingerprintContext, inputs: dict[str, Any]
              ) -> MemoryEstimate | None:
    try:
        return node.cls.estimate_memory(ctx, **inputs)
    except Exception:  # a plugin's estimator must not take validation down
        logger.warning("memory estimate of node %s (%s) failed; not checked", node.node_id,
                       node.cls.type_name, exc_info=True)
        return None


def estimate_nodes(
    nodes: Mapping[str, BoundNode], order: list[str], skip: Mapping[str, object],
    fctx_for: Callable[[str], FingerprintContext], budget: MemoryBudget,
) -> tuple[dict[str, MemoryEstimate], dict[str, InputIssue]]:
    """Each estimating node's estimate, and the nodes whose estimate passes the budget
    (nodes in ``skip`` — already invalid — are not estimated)."""
    specs: dict[str, tuple[TensorSpec | None, ...]] = {}
    estimates: dict[str, MemoryEstimate] = {}
    issues: dict[str, InputIssue] = {}
    for node_id in order:
        node = nodes[node_id]
        if node_id in skip or not has_estimate(node.cls):
            continue
        inputs = _inputs(node, specs)
        estimate = _estimate(node, fctx_for(node_id), inputs)
        if estimate is None:
            continue
        estimates[node_id] = estimate
        issue = over_budget(node, estimate, budget, inputs)
        if issue is None:
            specs[node_id] = estimate.outputs
        else:  # its consumers are not reported again: they get no sizes from it
            issues[node_id] = issue
    return estimates, issues
