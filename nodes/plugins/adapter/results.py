"""What a ComfyUI node function returned, as our ``NodeResult``.

Accepted, as ComfyUI accepts them: a tuple (or list) of values; ``None``; an
``ExecutionBlocker`` (every output blocked); a dict with ``"result"`` (a tuple, or a blocker),
``"ui"`` (``{key: [items]}``) and ``"expand"`` (a graph; ``["id", slot]`` links among the
result values refer to its nodes); a V3 ``NodeOutput``. Too few values are padded with ``None``
and extra ones dropped, as ComfyUI's zip does; the values are converted back to our payloads by
the declared output types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.api import Blocked, Expansion, NodeResult, OutputRef
from nodes.plugins.adapter.payloads import from_comfy
from nodes.plugins.compat.comfy_execution.graph_utils import is_link


class ResultError(TypeError):
    """A node function returned something ComfyUI would not accept either."""


def _ui(ui: Any) -> dict[str, list[Any]] | None:
    if ui is None:
        return None
    if hasattr(ui, "as_dict"):
        ui = ui.as_dict()
    if not isinstance(ui, Mapping):
        raise ResultError(f"a node's 'ui' must be a dict of lists, got {type(ui).__name__}")
    return {str(k): list(v) if isinstance(v, (list, tuple)) else [v] for k, v in ui.items()}


def _parts(result: Any, count: int) -> tuple[Any, Any, Any]:
    """(values, ui, expand) of one return value."""
    if isinstance(result, Blocked):
        return (result,) * count, None, None
    if hasattr(result, "block_execution") and hasattr(result, "args"):  # V3 NodeOutput
        if result.block_execution is not None:
            from nodes.plugins.compat.comfy_execution.graph_utils import ExecutionBlocker

            return (ExecutionBlocker(result.block_execution),) * count, result.ui, None
        return result.args, result.ui, result.expand
    if isinstance(result, Mapping):
        values = result.get("result", ())
        if isinstance(values, Blocked):
            values = (values,) * count
        return values, result.get("ui"), result.get("expand")
    return result, None, None


def normalize(result: Any, declared: tuple[Any, ...], is_list: tuple[bool, ...], what: str,
              notes: list[str]) -> NodeResult:
    """``result`` as a NodeResult with one value per declared output."""
    count = len(declared)
    values, ui, expand = _parts(result, count)
    if values is None:
        values = ()
    if not isinstance(values, (tuple, list)):
        raise ResultError(f"{what} returned {type(values).__name__}; return a tuple of "
                          f"{count} output values (RETURN_TYPES), or a dict with 'result'")
    values = tuple(values)[:count] + (None,) * max(0, count - len(values))
    converted = tuple(_convert(v, t, lst, what, notes, expand is not None)
                      for v, t, lst in zip(values, declared, is_list, strict=True))
    expansion = None if expand is None else Expansion(dict(expand))
    return NodeResult(converted, _ui(ui), expansion)


def _convert(value: Any, declared: Any, is_list: bool, what: str, notes: list[str],
             expanded: bool) -> Any:
    if expanded and is_link(value):
        return OutputRef(value[0], int(value[1]))
    if isinstance(value, Blocked):
        return value
    if is_list and isinstance(value, (list, tuple)):
        return [from_comfy(v, declared, what, notes) for v in value]
    return from_comfy(value, declared, what, notes)
