"""Running a registered node (a built-in one, usually) from compatibility code, through the
node contract: ``registry.instance(type).run(ctx, **inputs)`` with the running node's context.
The compatibility layer reuses the engine's nodes this way instead of importing their modules."""

from __future__ import annotations

import inspect
from typing import Any

from nodes.api import NodeResult
from nodes.plugins.host import current
from nodes.plugins.runtime import current_context


def run_node(type_name: str, **inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """(values, ui) of node ``type_name`` run on ``inputs`` (ours: payloads, not ComfyUI's),
    inside the running plugin node's job."""
    ctx = current_context(f"{type_name} (called by a plugin)")
    node = current().registry.instance(type_name)
    result = node.run(ctx, **inputs)
    if inspect.isawaitable(result):
        raise TypeError(f"node {type_name!r} is async; a plugin cannot call it directly")
    if isinstance(result, NodeResult):
        return tuple(result.values), dict(result.ui) if result.ui else None
    return tuple(result or ()), None
