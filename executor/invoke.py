"""Calling one node with ComfyUI's list semantics.

Every input is held as a list (a constant is ``[v]``; a linked input is the upstream slot's
list). Unless the node takes whole lists (``input_is_list``), it runs once per index up to the
longest list, a shorter list repeating its last element; each output collects the per-call
values, and outputs flagged ``is_list`` concatenate the per-call lists instead. UI dicts of the
calls merge by concatenating each key's list. A :class:`~nodes.api.Blocked` input blocks the
call: its outputs become the blocker, and a blocker with a message fails the node. A call may
return a :class:`~nodes.api.NodeResult` that expands (``expand``): the run loop then adds those
nodes to the job and completes the node once the outputs its values refer to exist
(``executor.expansion``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nodes.api import Blocked, Expansion, Node, NodeResult, RunContext


class NodeContractError(TypeError):
    """A node returned something its declaration does not allow."""


class BlockedInputError(RuntimeError):
    """An input was blocked by an upstream node with a message."""


Outputs = tuple[tuple[Any, ...], ...]


@dataclass
class Invocation:
    """What calling a node over its input lists gave: its outputs (one tuple per slot) and
    merged UI; for a node that expanded, ``outputs`` is ``None`` and ``calls`` holds each
    call's values (:class:`~nodes.api.OutputRef` values among them) with the ``added`` nodes."""

    outputs: Outputs | None
    ui: dict[str, list[Any]]
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    added: dict[str, Mapping[str, Any]] = field(default_factory=dict)


def _call_count(lists: Mapping[str, list[Any]]) -> int:
    if not lists:
        return 1
    if any(len(v) == 0 for v in lists.values()):
        return 0
    return max(len(v) for v in lists.values())


def _unpack(node: Node, result: Any
            ) -> tuple[tuple[Any, ...], Mapping[str, list[Any]] | None, Expansion | None]:
    ui, expansion = None, None
    if isinstance(result, NodeResult):
        ui, expansion, result = result.ui, result.expand, result.values
    if result is None:
        result = ()
    if not isinstance(result, tuple):
        raise NodeContractError(
            f"node {node.type_name!r} returned {type(result).__name__}; "
            "return a tuple of output values or a NodeResult"
        )
    if len(result) != len(node.outputs):
        raise NodeContractError(
            f"node {node.type_name!r} returned {len(result)} values "
            f"but declares {len(node.outputs)} outputs"
        )
    return result, ui, expansion


def _blocker(kwargs: Mapping[str, Any], whole_lists: bool) -> Blocked | None:
    for name, value in kwargs.items():
        items = value if whole_lists and isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, Blocked):
                if item.message is not None:
                    raise BlockedInputError(f"input {name!r} was blocked: {item.message}")
                return item
    return None


def _merge_ui(target: dict[str, list[Any]], ui: Mapping[str, list[Any]] | None) -> None:
    for key, items in (ui or {}).items():
        target.setdefault(key, []).extend(items if isinstance(items, list) else [items])


def _add_nodes(added: dict[str, Mapping[str, Any]], expansion: Expansion, node: Node) -> None:
    for node_id, raw in expansion.nodes.items():
        if str(node_id) in added:
            raise NodeContractError(f"node {node.type_name!r} expanded into node id "
                                    f"{node_id!r} twice; ids must be unique")
        added[str(node_id)] = raw


def merge_calls(node: type[Node] | Node, calls: list[tuple[Any, ...]]) -> Outputs:
    """The per-call values gathered per output slot; ``is_list`` outputs concatenate."""
    per_slot: list[list[Any]] = [[] for _ in node.outputs]
    for values in calls:
        for slot, (output, value) in enumerate(zip(node.outputs, values, strict=True)):
            if output.is_list and not isinstance(value, Blocked):
                per_slot[slot].extend(value)
            else:
                per_slot[slot].append(value)
    return tuple(tuple(v) for v in per_slot)


RunCoroutine = Callable[[Any], Any]


def _arguments(node: Node, lists: dict[str, list[Any]]) -> list[dict[str, Any]]:
    if node.input_is_list:
        return [dict(lists)]
    count = _call_count(lists)
    return [{k: v[min(i, len(v) - 1)] for k, v in lists.items()} for i in range(count)]


def invoke_node(
    node: Node, ctx: RunContext, lists: dict[str, list[Any]], run_coroutine: RunCoroutine
) -> Invocation:
    """Run ``node`` over its input lists (see the module docstring)."""
    ui: dict[str, list[Any]] = {}
    calls: list[tuple[Any, ...]] = []
    added: dict[str, Mapping[str, Any]] = {}
    expanded = False
    for kwargs in _arguments(node, lists):
        ctx.check_cancelled()
        blocked = _blocker(kwargs, node.input_is_list)
        if blocked is not None:
            calls.append(tuple(blocked for _ in node.outputs))
            continue
        result = node.run(ctx, **kwargs)
        if inspect.isawaitable(result):
            result = run_coroutine(result)
        values, call_ui, expansion = _unpack(node, result)
        _merge_ui(ui, call_ui)
        if expansion is not None:
            expanded = True
            _add_nodes(added, expansion, node)
        calls.append(values)
    if expanded:
        return Invocation(None, ui, calls, added)
    return Invocation(merge_calls(node, calls), ui)


def new_event_loop_runner() -> tuple[RunCoroutine, Callable[[], None]]:
    """A coroutine runner for one job's worker thread, and its closer."""
    loop: asyncio.AbstractEventLoop | None = None

    def run(coroutine: Any) -> Any:
        nonlocal loop
        if loop is None:
            loop = asyncio.new_event_loop()
        return loop.run_until_complete(coroutine)

    def close() -> None:
        if loop is not None:
            loop.close()

    return run, close
