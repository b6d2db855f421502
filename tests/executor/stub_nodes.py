"""Stub nodes for executor tests: they record their runs and cost nothing."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any, ClassVar

from nodes.api import (
    Blocked,
    Boolean,
    CachePolicy,
    Combo,
    FingerprintContext,
    Float,
    Hidden,
    Int,
    Link,
    Node,
    NodeResult,
    Output,
    Registry,
    RunContext,
    String,
    socket_type,
)

NUMBER = socket_type("NUMBER")
TEXT = socket_type("TEXT")


class Runs:
    """Counts node runs by node id (shared by the stub classes of one registry)."""

    def __init__(self) -> None:
        self.by_node: Counter[str] = Counter()
        self.lock = threading.Lock()

    def record(self, node_id: str) -> None:
        with self.lock:
            self.by_node[node_id] += 1

    @property
    def total(self) -> int:
        return sum(self.by_node.values())

    def clear(self) -> None:
        self.by_node.clear()


def make_registry(runs: Runs, external: dict[str, Any] | None = None) -> Registry:
    """A registry of stub nodes sharing ``runs`` (and ``external`` state for fingerprints)."""
    external = external if external is not None else {}

    class Constant(Node):
        """Emits a number."""

        inputs = (Float("value", default=0.0, min=-1e9, max=1e9),)
        outputs = (Output(NUMBER, "value"),)

        def run(self, ctx: RunContext, value: float) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (value,)

    class Add(Node):
        """Adds a constant to a number: the counter node."""

        inputs = (Link("a", NUMBER), Int("b", default=1, min=-100, max=2**64 - 1))
        outputs = (Output(NUMBER),)

        def run(self, ctx: RunContext, a: float, b: int) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (a + b,)

    class Sum(Node):
        """Adds two numbers."""

        inputs = (Link("a", NUMBER), Link("b", NUMBER))
        outputs = (Output(NUMBER),)

        def run(self, ctx: RunContext, a: float, b: float) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (a + b,)

    class Show(Node):
        """An output node: shows a number."""

        output_node = True
        inputs = (Link("value", NUMBER), String("label", default="", optional=True))
        hidden = frozenset({Hidden.PROMPT, Hidden.EXTRA_PNGINFO})

        def run(self, ctx: RunContext, value: Any, label: str) -> NodeResult:
            runs.record(ctx.node_id)
            return NodeResult((), {"numbers": [value], "labels": [label]})

    class Settings(Node):
        """Every widget type."""

        inputs = (
            Int("count", default=2, min=0, max=10),
            Float("scale", default=1.5, min=0.0, max=10.0, step=0.5),
            Boolean("flag", default=False),
            Combo("mode", choices=("fast", "slow"), default="fast"),
            String("text", default="hi", multiline=True),
        )
        outputs = (Output(NUMBER),)

        def run(self, ctx: RunContext, count: int, scale: float, flag: bool, mode: str,
                text: str) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (count * scale + (100 if flag else 0) + (1000 if mode == "slow" else 0),)

    class Fail(Node):
        """Always raises."""

        inputs = (Link("a", NUMBER),)
        outputs = (Output(NUMBER),)

        def run(self, ctx: RunContext, a: float) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            raise RuntimeError(f"boom on {a}")

    class Slow(Node):
        """Reports progress for ``steps`` steps, waiting on an event each step."""

        inputs = (Link("a", NUMBER), Int("steps", default=50, min=1, max=10_000))
        outputs = (Output(NUMBER),)
        step_event: ClassVar[threading.Event] = threading.Event()
        step_done: ClassVar[threading.Semaphore] = threading.Semaphore(0)

        def run(self, ctx: RunContext, a: float, steps: int) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            for i in range(steps):
                self.step_done.release()
                self.step_event.wait(5)
                ctx.progress(i + 1, steps)
            return (a,)

    class Fingerprinted(Node):
        """Reads external state named by ``name``."""

        cache = CachePolicy.FINGERPRINT
        inputs = (String("name", default="x"),)
        outputs = (Output(NUMBER),)

        @classmethod
        def fingerprint(cls, ctx: FingerprintContext, name: str) -> Any:
            return external.get(name)

        def run(self, ctx: RunContext, name: str) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (float(external.get(name, 0)),)

    class Never(Node):
        """Never cached."""

        cache = CachePolicy.NEVER
        inputs = (Link("a", NUMBER),)
        outputs = (Output(NUMBER),)

        def run(self, ctx: RunContext, a: float) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (a,)

    class WhoAmI(Node):
        """Reads its own node id, so its key includes it."""

        hidden = frozenset({Hidden.UNIQUE_ID})
        outputs = (Output(TEXT),)

        def run(self, ctx: RunContext) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (ctx.node_id,)

    class MakeList(Node):
        """Emits a list output: ``count`` numbers starting at ``start``."""

        inputs = (Int("start", default=0, min=0, max=100), Int("count", default=3, min=0, max=100))
        outputs = (Output(NUMBER, is_list=True),)

        def run(self, ctx: RunContext, start: int, count: int) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (list(range(start, start + count)),)

    class Total(Node):
        """Takes whole lists (input_is_list)."""

        input_is_list = True
        inputs = (Link("values", NUMBER),)
        outputs = (Output(NUMBER),)

        def run(self, ctx: RunContext, values: list[float]) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (sum(values),)

    class Switch(Node):
        """Lazy: evaluates only the branch it picks."""

        inputs = (
            Boolean("use_a", default=True),
            Link("a", NUMBER, lazy=True),
            Link("b", NUMBER, lazy=True),
        )
        outputs = (Output(NUMBER),)

        def check_lazy(self, ctx: RunContext, **inputs: Any) -> list[str]:
            return ["a"] if inputs["use_a"] else ["b"]

        def run(self, ctx: RunContext, use_a: bool, a: Any, b: Any) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (a if use_a else b,)

    class AsyncDouble(Node):
        """An async node."""

        inputs = (Link("a", NUMBER),)
        outputs = (Output(NUMBER),)

        async def run(self, ctx: RunContext, a: float) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            await asyncio.sleep(0)
            return (a * 2,)

    class Gate(Node):
        """Blocks its output unless open; with a message the consumer fails."""

        inputs = (Link("a", NUMBER), Boolean("open", default=True),
                  String("message", default="", optional=True))
        outputs = (Output(NUMBER),)

        def run(self, ctx: RunContext, a: float, open: bool, message: str) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (a if open else Blocked(message or None),)

    class Checked(Node):
        """Custom validation: refuses odd numbers."""

        inputs = (Int("n", default=0, min=0, max=100),)
        outputs = (Output(NUMBER),)

        @classmethod
        def validate(cls, ctx: FingerprintContext, n: int | None) -> str | None:
            return None if n is None or n % 2 == 0 else f"n must be even, got {n}"

        def run(self, ctx: RunContext, n: int) -> tuple[Any, ...]:
            runs.record(ctx.node_id)
            return (float(n),)

    registry = Registry()
    registry.register_all(
        [Constant, Add, Sum, Show, Settings, Fail, Slow, Fingerprinted, Never, WhoAmI, MakeList,
         Total, Switch, AsyncDouble, Gate, Checked],
        module="tests.stub_nodes",
    )
    return registry
