"""Node expansion (ComfyUI's ``expand``): a node adds nodes to its job, they run (or are reused)
like the prompt's, and the node's outputs are the values they produce."""

from __future__ import annotations

from typing import Any

import pytest

from executor.events import NodeOutput, NodeStarted
from nodes.api import (
    Expansion,
    Int,
    Link,
    Node,
    NodeResult,
    Output,
    OutputRef,
    Registry,
    RunContext,
    String,
)
from tests.executor.helpers import engine_for, run
from tests.executor.stub_nodes import NUMBER, Runs, make_registry


class Repeat(Node):
    """Expands into a Constant holding its input and ``times`` chained Add nodes (+1 each)."""

    inputs = (Link("a", NUMBER), Int("times", default=2, min=0, max=50),
              String("prefix", default="", optional=True))
    outputs = (Output(NUMBER),)

    def run(self, ctx: RunContext, a: Any, times: int, prefix: str | None) -> NodeResult:
        if times == 0:
            return NodeResult((a,))
        base = f"{ctx.node_id}.{prefix or ''}"
        nodes: dict[str, Any] = {f"{base}in": {"class_type": "Constant", "inputs": {"value": a}}}
        source = [f"{base}in", 0]
        for i in range(times):
            nodes[f"{base}{i}"] = {"class_type": "Add",
                                   "inputs": {"a": source, "b": 1}}
            source = [f"{base}{i}", 0]
        return NodeResult((OutputRef(source[0], 0),), expand=Expansion(nodes))


class ShowAlso(Node):
    """Expands into a Show output node fed by its input; passes the input through."""

    inputs = (Link("a", NUMBER),)
    outputs = (Output(NUMBER),)

    def run(self, ctx: RunContext, a: Any) -> NodeResult:
        source = ctx.prompt[ctx.node_id]["inputs"]["a"]
        nodes = {f"{ctx.node_id}.show": {"class_type": "Show", "inputs": {"value": source,
                                                                          "label": "added"}}}
        return NodeResult((a,), expand=Expansion(nodes))


class Broken(Node):
    """Expands into whatever ``kind`` asks for: a duplicate id, an unknown type, a bad input."""

    inputs = (Link("a", NUMBER), String("kind", default="duplicate"))
    outputs = (Output(NUMBER),)

    def run(self, ctx: RunContext, a: Any, kind: str) -> NodeResult:
        nodes = {
            "duplicate": {"1": {"class_type": "Constant", "inputs": {"value": 1}}},
            "unknown": {"x.1": {"class_type": "NoSuchNode", "inputs": {}}},
            "bad_input": {"x.1": {"class_type": "Constant", "inputs": {"value": "abc"}}},
        }[kind]
        return NodeResult((OutputRef(next(iter(nodes)), 0),), expand=Expansion(nodes))


def registry(runs: Runs) -> Registry:
    reg = make_registry(runs)
    reg.register_all([Repeat, ShowAlso, Broken])
    return reg


def prompt(times: int = 3, value: float = 1.0) -> dict[str, Any]:
    return {
        "1": {"class_type": "Constant", "inputs": {"value": value}},
        "2": {"class_type": "Repeat", "inputs": {"a": ["1", 0], "times": times}},
        "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
    }


def test_expanded_nodes_run_and_give_the_node_its_outputs() -> None:
    runs = Runs()
    engine = engine_for(registry(runs))
    result, sink = run(engine, prompt(3))
    assert result.ok, result.failure
    assert result.outputs["3"]["numbers"] == [4.0]
    assert {"2.0", "2.1", "2.2"} <= set(result.executed)
    assert result.executed.index("2.2") < result.executed.index("2") < result.executed.index("3")
    started = [e.node_id for e in sink.of_type(NodeStarted)]
    assert started.count("2") == 1 and "2.0" in started
    assert runs.by_node["2.0"] == runs.by_node["2.2"] == 1


def test_an_expanded_node_is_cached_like_any_other() -> None:
    runs = Runs()
    engine = engine_for(registry(runs))
    run(engine, prompt(3))
    again, _ = run(engine, prompt(3))
    assert again.ok and again.executed == [] and "2" in again.cached
    assert again.outputs["3"]["numbers"] == [4.0]
    more, _ = run(engine, prompt(4))  # the parent re-runs; the first three adds are reused
    assert more.outputs["3"]["numbers"] == [5.0]
    assert runs.by_node["2.2"] == 1 and runs.by_node["2.3"] == 1
    assert more.reasons["2.2"].value == "cached" and more.reasons["2.3"].value == "new"


def test_an_output_node_among_the_expanded_runs_and_shows_its_ui() -> None:
    runs = Runs()
    engine = engine_for(registry(runs))
    graph = {"1": {"class_type": "Constant", "inputs": {"value": 7.0}},
             "2": {"class_type": "ShowAlso", "inputs": {"a": ["1", 0]}},
             "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    result, sink = run(engine, graph)
    assert result.ok, result.failure
    assert result.outputs["2.show"] == {"numbers": [7.0], "labels": ["added"]}
    assert "2.show" in {e.node_id for e in sink.of_type(NodeOutput)}


def test_expansions_nest() -> None:
    runs = Runs()
    reg = registry(runs)

    class Outer(Node):
        """Expands into a Repeat node (which expands in turn)."""

        inputs = (Link("a", NUMBER),)
        outputs = (Output(NUMBER),)

        def run(self, ctx: RunContext, a: Any) -> NodeResult:
            inner = f"{ctx.node_id}.r"
            return NodeResult((OutputRef(inner, 0),), expand=Expansion({
                f"{inner}.c": {"class_type": "Constant", "inputs": {"value": a}},
                inner: {"class_type": "Repeat", "inputs": {"a": [f"{inner}.c", 0], "times": 2}},
            }))

    reg.register(Outer)
    graph = {"1": {"class_type": "Constant", "inputs": {"value": 0.0}},
             "2": {"class_type": "Outer", "inputs": {"a": ["1", 0]}},
             "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    result, _ = run(engine_for(reg), graph)
    assert result.ok, result.failure
    assert result.outputs["3"]["numbers"] == [2.0]
    assert {"2.r", "2.r.0", "2.r.1"} <= set(result.executed)


@pytest.mark.parametrize(("kind", "words"), [
    ("duplicate", "already has"),
    ("unknown", "'NoSuchNode', which does not exist"),
    ("bad_input", "invalid inputs"),
])
def test_a_bad_expansion_fails_the_node_naming_it(kind: str, words: str) -> None:
    runs = Runs()
    engine = engine_for(registry(runs))
    graph = {"1": {"class_type": "Constant", "inputs": {"value": 1.0}},
             "2": {"class_type": "Broken", "inputs": {"a": ["1", 0], "kind": kind}},
             "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    result, _ = run(engine, graph)
    assert not result.ok and result.failure is not None
    assert result.failure.node_id == "2"
    assert result.failure.exception_type == "ExpansionError"
    assert words in result.failure.message


def test_each_call_of_a_list_expands_on_its_own() -> None:
    runs = Runs()
    reg = registry(runs)

    class Pair(Node):
        """Two numbers, as a list output."""

        outputs = (Output(NUMBER, is_list=True),)

        def run(self, ctx: RunContext) -> tuple[Any, ...]:
            return ([10.0, 20.0],)

    class ListRepeat(Repeat):
        """Repeat with an id prefix per call value."""

        def run(self, ctx: RunContext, a: Any, times: int, prefix: str | None) -> NodeResult:
            source = f"{ctx.node_id}.{int(a)}"
            return NodeResult((OutputRef(source, 0),), expand=Expansion(
                {source: {"class_type": "Constant", "inputs": {"value": a + 1}}}))

    reg.register_all([Pair, ListRepeat])
    graph = {"1": {"class_type": "Pair", "inputs": {}},
             "2": {"class_type": "ListRepeat", "inputs": {"a": ["1", 0], "times": 1}},
             "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    result, _ = run(engine_for(reg), graph)
    assert result.ok, result.failure
    assert result.outputs["3"]["numbers"] == [11.0, 21.0]
