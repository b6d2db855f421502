"""Node expansion: the nodes a running node adds to its job (ComfyUI's ``expand``).

A node returns ``NodeResult(values, expand=Expansion({id: {"class_type", "inputs"}}))``; its
values may be ``OutputRef`` references to outputs of the added nodes (or of the prompt's). The
added nodes are parsed and bound like the prompt's (constants coerced and checked, links checked
against their sources), given cache keys, and planned: those the values refer to, and every
output node among them, run (or are reused from the cache). The expanding node then waits for
them; once they have run its outputs are the referenced values. Ids must be new to the job
(``ExpansionError`` otherwise); ComfyUI's ``GraphBuilder`` makes them unique per node and call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.errors import PromptError
from executor.graph import parse_node
from executor.validate import ValidatedPrompt, bind_node
from nodes.api import Blocked, Node, OutputRef, Registry


class ExpansionError(RuntimeError):
    """A node expanded into nodes that cannot run (unknown type, bad input, duplicate id …)."""


@dataclass
class PendingExpansion:
    """An expanded node waiting for the outputs its values refer to."""

    calls: list[tuple[Any, ...]]
    ui: dict[str, list[Any]]
    notes: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)

    def sources(self) -> set[str]:
        return {v.node_id for call in self.calls for v in call if isinstance(v, OutputRef)}


def _problems(issues: list[Any]) -> str:
    return "; ".join(f"{i.message}: {i.details}" for i in issues)


def _parse(vp: ValidatedPrompt, registry: Registry, parent: str,
           added: Mapping[str, Mapping[str, Any]]) -> list[str]:
    new_ids = []
    for node_id, raw in added.items():
        if node_id in vp.graph.nodes:
            raise ExpansionError(f"node {parent} expanded into node id {node_id!r}, which the "
                                 "job already has; ids must be unique (use GraphBuilder)")
        try:
            call = parse_node(node_id, raw)
        except PromptError as exc:
            raise ExpansionError(f"node {parent} expanded into an invalid node {node_id!r}: "
                                 f"{exc}") from None
        if call.class_type not in registry:
            raise ExpansionError(f"node {parent} expanded into node {node_id!r} of type "
                                 f"{call.class_type!r}, which does not exist")
        vp.graph.nodes[node_id] = call
        new_ids.append(node_id)
    return new_ids


def _dependency_order(vp: ValidatedPrompt, parent: str, new_ids: list[str]) -> list[str]:
    new = set(new_ids)
    order: list[str] = []
    done: set[str] = set()
    remaining = list(new_ids)
    while remaining:
        ready = [n for n in remaining
                 if all(r.node_id in done or r.node_id not in new
                        for r in vp.nodes[n].links.values())]
        if not ready:
            raise ExpansionError(f"node {parent} expanded into a dependency cycle among "
                                 f"{sorted(remaining)}")
        for node_id in ready:
            order.append(node_id)
            done.add(node_id)
            remaining.remove(node_id)
    return order


def bind_expansion(vp: ValidatedPrompt, registry: Registry, parent: str,
                   added: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Add the nodes to ``vp`` (graph, bound nodes, order); returns their ids in dependency
    order. Any problem raises :class:`ExpansionError` naming the node."""
    new_ids = _parse(vp, registry, parent, added)
    for node_id in new_ids:
        bound, issues = bind_node(vp.graph, registry, node_id)
        if issues:
            raise ExpansionError(f"node {parent} expanded into node {node_id!r} "
                                 f"({bound.cls.type_name}) with invalid inputs: "
                                 f"{_problems(issues)}")
        for name, ref in bound.links.items():
            if ref.node_id not in vp.nodes and ref.node_id not in added:
                raise ExpansionError(f"node {node_id!r} (added by node {parent}) links input "
                                     f"{name!r} to node {ref.node_id!r}, which this job does "
                                     "not run")
        vp.nodes[node_id] = bound
    order = _dependency_order(vp, parent, new_ids)
    vp.order.extend(order)
    return order


def check_sources(vp: ValidatedPrompt, parent: str, pending: PendingExpansion) -> None:
    for call in pending.calls:
        for value in call:
            if not isinstance(value, OutputRef):
                continue
            source = vp.nodes.get(value.node_id)
            if source is None:
                raise ExpansionError(f"node {parent} returned an output of node "
                                     f"{value.node_id!r}, which this job does not run")
            if not 0 <= value.slot < len(source.cls.outputs):
                raise ExpansionError(f"node {parent} returned output {value.slot} of node "
                                     f"{value.node_id!r} ({source.cls.type_name}), which has "
                                     f"{len(source.cls.outputs)} outputs")


def resolve_outputs(cls: type[Node], pending: PendingExpansion,
                    values: Mapping[str, tuple[tuple[Any, ...], ...]]
                    ) -> tuple[tuple[Any, ...], ...]:
    """The expanded node's outputs: each referenced output's values in place of its
    reference (all of them: a list output stays a list), others as a call returned them."""
    per_slot: list[list[Any]] = [[] for _ in cls.outputs]
    for call in pending.calls:
        for slot, (output, value) in enumerate(zip(cls.outputs, call, strict=True)):
            if isinstance(value, OutputRef):
                per_slot[slot].extend(values[value.node_id][value.slot])
            elif output.is_list and not isinstance(value, Blocked):
                per_slot[slot].extend(value)
            else:
                per_slot[slot].append(value)
    return tuple(tuple(v) for v in per_slot)


def new_output_nodes(vp: ValidatedPrompt, node_ids: list[str]) -> list[str]:
    return [n for n in node_ids if vp.nodes[n].cls.output_node]
