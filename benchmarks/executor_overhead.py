"""Engine overhead per node on a 500-node stub graph, cold and fully cached.

Overhead = wall time of ``Engine.execute`` minus the time spent inside node bodies, divided by
the node count. The reference in the same process is a plain loop that calls the same node
bodies in topological order with no engine at all (validation, keys, events, scheduling).

Run: python benchmarks/executor_overhead.py [--nodes 500] [--repeat 20]
Targets (issue 2): < 100 µs/node cold, < 20 µs/node cached.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from executor.cache import LruCache  # noqa: E402
from executor.engine import Engine  # noqa: E402
from executor.jobs import JobRequest  # noqa: E402
from nodes.api import (  # noqa: E402
    Float,
    Int,
    Link,
    Node,
    NodeResult,
    Output,
    Registry,
    RunContext,
    socket_type,
)

NUMBER = socket_type("NUMBER")
BODY_SECONDS = [0.0]


def _timed(fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            BODY_SECONDS[0] += time.perf_counter() - start
    return wrapper


class Constant(Node):
    inputs = (Float("value", default=0.0, min=-1e9, max=1e9),)
    outputs = (Output(NUMBER),)

    @_timed
    def run(self, ctx: RunContext, value: float) -> tuple[Any, ...]:
        return (value,)


class Add(Node):
    inputs = (Link("a", NUMBER), Int("b", default=1, min=-1000, max=1000))
    outputs = (Output(NUMBER),)

    @_timed
    def run(self, ctx: RunContext, a: float, b: int) -> tuple[Any, ...]:
        return (a + b,)


class Sum(Node):
    inputs = (Link("a", NUMBER), Link("b", NUMBER))
    outputs = (Output(NUMBER),)

    @_timed
    def run(self, ctx: RunContext, a: float, b: float) -> tuple[Any, ...]:
        return (a + b,)


class Show(Node):
    output_node = True
    inputs = (Link("value", NUMBER),)

    @_timed
    def run(self, ctx: RunContext, value: float) -> NodeResult:
        return NodeResult((), {"numbers": [value]})


def build_prompt(count: int) -> dict[str, Any]:
    """Ten chains of Adds, joined pairwise by Sums, with an output node every 50 nodes."""
    prompt: dict[str, Any] = {}
    ids = [str(i) for i in range(count)]
    for i, node_id in enumerate(ids):
        if i % 50 == 0:
            prompt[node_id] = {"class_type": "Constant", "inputs": {"value": i}}
        elif i % 50 == 49:
            prompt[node_id] = {"class_type": "Show", "inputs": {"value": [ids[i - 1], 0]}}
        elif i % 7 == 0 and i > 50:
            prompt[node_id] = {"class_type": "Sum",
                               "inputs": {"a": [ids[i - 1], 0], "b": [ids[i - 50], 0]}}
        else:
            prompt[node_id] = {"class_type": "Add", "inputs": {"a": [ids[i - 1], 0], "b": i % 9}}
    return prompt


def _reference(prompt: dict[str, Any], registry: Registry) -> float:
    """The same node bodies called directly, in id (topological) order."""
    values: dict[str, Any] = {}
    start = time.perf_counter()
    for node_id, node in prompt.items():
        kwargs = {k: values[v[0]] if isinstance(v, list) else v
                  for k, v in node["inputs"].items()}
        out = registry.instance(node["class_type"]).run(None, **kwargs)  # type: ignore[arg-type]
        values[node_id] = out.values[0] if isinstance(out, NodeResult) and out.values else (
            out[0] if isinstance(out, tuple) and out else None)
    return time.perf_counter() - start


def _measure(engine: Engine, prompt: dict[str, Any], job_id: str) -> tuple[float, int]:
    BODY_SECONDS[0] = 0.0
    start = time.perf_counter()
    result = engine.execute(JobRequest(job_id, prompt))
    wall = time.perf_counter() - start
    assert result.ok, result.failure
    return wall - BODY_SECONDS[0], len(result.executed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    registry = Registry()
    registry.register_all([Constant, Add, Sum, Show])
    prompt = build_prompt(args.nodes)
    cold, cached, ref = [], [], []
    for rep in range(args.repeat):
        engine = Engine(registry, LruCache(10_000))
        overhead, executed = _measure(engine, prompt, f"cold-{rep}")
        assert executed == args.nodes
        cold.append(overhead)
        overhead, executed = _measure(engine, prompt, f"cached-{rep}")
        assert executed == 0
        cached.append(overhead)
        ref.append(_reference(prompt, registry))
    n = args.nodes
    print(f"nodes: {n}, repeats: {args.repeat}; median (min) over repeats")
    rows = [("cold   engine overhead", cold, "target < 100"),
            ("cached engine overhead", cached, "target < 20"),
            ("reference plain loop  ", ref, "node bodies + dict lookups, no engine")]
    ref_med = statistics.median(ref)
    for label, samples, note in rows:
        med, low = statistics.median(samples) / n * 1e6, min(samples) / n * 1e6
        ratio = statistics.median(samples) / ref_med
        print(f"{label}: {med:7.1f} ({low:6.1f}) us/node  {ratio:6.1f}x reference  [{note}]")


if __name__ == "__main__":
    main()
