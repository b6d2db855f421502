"""A node pack for the browser tests (``--node-pack tests.web.web_pack:register``).

``Boom`` fails with the given message, so the editor's execution-error panel can be checked;
``IntValue`` outputs an INT, to feed a widget converted to an input.
"""

from __future__ import annotations

from typing import Any

from nodes.api import INT, CachePolicy, Int, Node, NodeResult, Output, Registry, RunContext, String


class Boom(Node):
    """Raises ``RuntimeError(message)``."""

    output_node = True
    cache = CachePolicy.NEVER
    inputs = (String("message", default="boom", tooltip="The error message."),)

    def run(self, ctx: RunContext, message: str) -> NodeResult:
        raise RuntimeError(message)


class IntValue(Node):
    """An integer, as a link."""

    inputs = (Int("value", default=3, min=0, max=2**64 - 1, tooltip="The integer."),)
    outputs = (Output(INT),)

    def run(self, ctx: RunContext, value: int) -> tuple[Any, ...]:
        return (value,)


def register(registry: Registry) -> None:
    registry.register_all([Boom, IntValue], module="tests.web.web_pack")
