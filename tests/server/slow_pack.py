"""A node pack for subprocess tests (``--node-pack tests.server.slow_pack:register``).

``Sleep`` waits ``ms`` milliseconds (checking for cancellation) and is never cached, so every
job really runs; ``Shout`` is an output node showing the job's number.
"""

from __future__ import annotations

import time
from typing import Any

from nodes.api import CachePolicy, Int, Link, Node, NodeResult, Output, Registry, RunContext
from tests.executor.stub_nodes import NUMBER


class Sleep(Node):
    """Sleeps, checking for cancellation every 10 ms."""

    cache = CachePolicy.NEVER
    inputs = (Int("ms", default=100, min=0, max=60_000), Int("n", default=0, min=0, max=10**9))
    outputs = (Output(NUMBER),)

    def run(self, ctx: RunContext, ms: int, n: int) -> tuple[Any, ...]:
        deadline = time.monotonic() + ms / 1000
        while time.monotonic() < deadline:
            ctx.check_cancelled()
            time.sleep(0.01)
        return (float(n),)


class Shout(Node):
    """Shows a number."""

    output_node = True
    cache = CachePolicy.NEVER
    inputs = (Link("value", NUMBER),)

    def run(self, ctx: RunContext, value: float) -> NodeResult:
        return NodeResult((), {"numbers": [value]})


def register(registry: Registry) -> None:
    registry.register_all([Sleep, Shout], module="tests.server.slow_pack")


def sleep_prompt(n: int, ms: int) -> dict[str, Any]:
    return {"1": {"class_type": "Sleep", "inputs": {"ms": ms, "n": n}},
            "2": {"class_type": "Shout", "inputs": {"value": ["1", 0]}}}
