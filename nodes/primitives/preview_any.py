"""PreviewAny: shows any value as text in the editor (``ui.text``).

ComfyUI v0.3.64's rendering: a string as it is; an int, float or bool by ``str`` (``True``,
``1.5``); ``None`` as ``None``; anything else as ``json.dumps`` (compact, ASCII-escaped) when
it is JSON-able, else by ``str`` (its repr-like text: tensors, payloads), and a fixed message
when even that fails.
"""

from __future__ import annotations

import json
from typing import Any

from nodes.api import ANY, Link, Node, NodeResult, RunContext

UNSERIALIZABLE = "source exists, but could not be serialized."


def preview_text(value: Any) -> str:
    """The text PreviewAny shows for ``value`` (see the module docstring)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    if value is None:
        return "None"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        try:
            return str(value)
        except Exception:  # a value whose own __str__ fails: show that it exists
            return UNSERIALIZABLE


class PreviewAny(Node):
    """Shows the value it receives as text in the editor."""

    display_name = "Preview Any"
    category = "utils"
    output_node = True
    inputs = (Link("source", ANY, tooltip="Any value."),)

    def run(self, ctx: RunContext, source: Any = None) -> NodeResult:
        return NodeResult((), {"text": [preview_text(source)]})
