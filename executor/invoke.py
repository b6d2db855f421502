"""Calling one node with ComfyUI's list semantics.

Every input is held as a list (a constant is ``[v]``; a linked input is the upstream slot's
list). Unless the node takes whole lists (``input_is_list``), it runs once per index up to the
longest list, a shorter list repeating its last element; each output collects the per-call
values, and outputs flagged ``is_list`` concatenate the per-call lists instead. UI dicts of the
calls merge by concatenating each key's list. A :class:`~nodes.api.Blocked` input blocks the
call: its outputs become the blocker, and a blocker with a message fails the node.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from nodes.api import Blocked, Node, NodeResult, RunContext


class NodeContractError(TypeError):
    """A node returned something its declaration does not allow."""


class BlockedInputError(RuntimeError):
    """An input was blocked by an upstream node with a message."""


def _call_count(lists: Mapping[str, list[Any]]) -> int:
    if not lists:
        return 1
    if any(len(v) == 0 for v in lists.values()):
        return 0
    return max(len(v) for v in lists.values())


def _unpack(node: Node, result: Any) -> tuple[tuple[Any, ...], Mapping[str, list[Any]] | None]:
    ui = None
    if isinstance(result, NodeResult):
        ui, result = result.ui, result.values
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
    return result, ui


def _blocker(kwargs: Mapping[str, Any]) -> Blocked | None:
    for name, value in kwargs.items():
        if isinstance(value, Blocked):
            if value.message is not None:
                raise BlockedInputError(f"input {name!r} was blocked: {value.message}")
            return value
    return None


def _merge_ui(target: dict[str, list[Any]], ui: Mapping[str, list[Any]] | None) -> None:
    for key, items in (ui or {}).items():
        target.setdefault(key, []).extend(items if isinstance(items, list) else [items])


RunCoroutine = Callable[[Any], Any]


def invoke_node(
    node: Node, ctx: RunContext, lists: dict[str, list[Any]], run_coroutine: RunCoroutine
) -> tuple[tuple[tuple[Any, ...], ...], dict[str, list[Any]]]:
    """Run ``node`` over its input lists; returns (outputs as one tuple per slot, merged UI)."""
    per_slot: list[list[Any]] = [[] for _ in node.outputs]
    ui: dict[str, list[Any]] = {}
    if node.input_is_list:
        calls = [dict(lists)]
    else:
        count = _call_count(lists)
        calls = [{k: v[min(i, len(v) - 1)] for k, v in lists.items()} for i in range(count)]
    for kwargs in calls:
        ctx.check_cancelled()
        blocked = None if node.input_is_list else _blocker(kwargs)
        if blocked is not None:
            values: tuple[Any, ...] = tuple(blocked for _ in node.outputs)
        else:
            result = node.run(ctx, **kwargs)
            if inspect.isawaitable(result):
                result = run_coroutine(result)
            values, call_ui = _unpack(node, result)
            _merge_ui(ui, call_ui)
        for slot, (output, value) in enumerate(zip(node.outputs, values, strict=True)):
            if output.is_list and not isinstance(value, Blocked):
                per_slot[slot].extend(value)
            else:
                per_slot[slot].append(value)
    return tuple(tuple(v) for v in per_slot), ui


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
