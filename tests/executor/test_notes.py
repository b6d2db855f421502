"""``ctx.note``: facts a node records land in the job outcome's ``notes``, survive the codec, and
come back when the node's result is reused from the cache."""

from __future__ import annotations

from typing import Any

import pytest

from executor.jobs import JobOutcome
from nodes.api import INT, Int, Link, Node, NodeResult, Output, Registry, RunContext
from tests.executor.helpers import engine_for, run


class Counted(Node):
    inputs = (Int("value", default=1),)
    outputs = (Output(INT),)

    def run(self, ctx: RunContext, value: int) -> tuple[Any, ...]:
        ctx.note("unmapped", [f"key{value}"])
        ctx.note("count", value)
        return (value,)


class Sink(Node):
    output_node = True
    inputs = (Link("value", INT),)

    def run(self, ctx: RunContext, value: int) -> NodeResult:
        return NodeResult((), {"value": [value]})


def registry() -> Registry:
    built = Registry()
    built.register_all([Counted, Sink], module="tests")
    return built


PROMPT = {"1": {"class_type": "Counted", "inputs": {"value": 3}},
          "2": {"class_type": "Sink", "inputs": {"value": ["1", 0]}}}


def test_notes_are_recorded_kept_through_the_cache_and_the_codec() -> None:
    engine = engine_for(registry())
    first, _ = run(engine, PROMPT)
    assert first.notes == {"1": {"unmapped": ["key3"], "count": 3}}
    second, _ = run(engine, PROMPT)
    assert second.cached == ["1", "2"] and second.notes == first.notes
    assert JobOutcome.from_dict(second.to_dict()).notes == first.notes


def test_a_note_needs_a_key() -> None:
    class Bad(Node):
        outputs = (Output(INT),)

        def run(self, ctx: RunContext) -> tuple[Any, ...]:
            ctx.note("", 1)
            return (1,)

    built = Registry()
    built.register_all([Bad, Sink], module="tests")
    result, _ = run(engine_for(built),
                    {"1": {"class_type": "Bad", "inputs": {}},
                     "2": {"class_type": "Sink", "inputs": {"value": ["1", 0]}}})
    assert result.failure is not None and "a note's key must be a non-empty string" in \
        result.failure.message


@pytest.mark.parametrize("policy", ["none"])
def test_without_a_cache_every_run_notes_again(policy: str) -> None:
    engine = engine_for(registry(), policy)
    for _ in range(2):
        result, _ = run(engine, PROMPT)
        assert result.notes["1"]["count"] == 3
