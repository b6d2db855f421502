"""The run loop: failures, cancellation, list/lazy/async/blocking nodes, long chains, events."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from typing import Any

import pytest

from executor.events import (
    JobFailed,
    JobInterrupted,
    JobStarted,
    JobSucceeded,
    NodeFinished,
    NodeOutput,
    NodeProgress,
    NodesCached,
    NodeStarted,
)
from executor.jobs import JobRequest
from executor.schedule import FifoOrdering
from nodes.api import Link, Node, NodeResult, Output, Registry, RunContext, socket_type
from tests.executor.helpers import CACHE_POLICIES, chain_prompt, engine_for, run
from tests.executor.stub_nodes import Runs, make_registry


@pytest.fixture
def runs() -> Runs:
    return Runs()


def test_failure_reports_node_and_stops_job(runs: Runs) -> None:
    engine = engine_for(make_registry(runs))
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 4}},
              "2": {"class_type": "Fail", "inputs": {"a": ["1", 0]}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
              "4": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    result, sink = run(engine, prompt)
    assert result.status == "failed"
    failure = result.failure
    assert failure is not None
    assert (failure.node_id, failure.node_type, failure.exception_type) == ("2", "Fail",
                                                                          "RuntimeError")
    assert failure.message == "boom on 4.0"
    assert failure.inputs == {"a": "4.0"}
    assert any("raise RuntimeError" in line for line in failure.traceback)
    assert "3" not in runs.by_node
    (event,) = sink.of_type(JobFailed)
    assert event.node_id == "2" and event.exception_type == "RuntimeError"
    assert not sink.of_type(JobSucceeded)


def test_event_sequence_of_a_fresh_and_a_cached_job(runs: Runs) -> None:
    engine = engine_for(make_registry(runs))
    _, sink = run(engine, chain_prompt())
    kinds = [type(e) for e in sink.events]
    assert kinds[0] is JobStarted and kinds[1] is NodesCached and kinds[-1] is JobSucceeded
    assert sink.of_type(NodesCached)[0].node_ids == ()
    started = [e.node_id for e in sink.of_type(NodeStarted)]
    assert sorted(started) == sorted(chain_prompt())
    assert len(sink.of_type(NodeFinished)) == 6
    assert {e.node_id for e in sink.of_type(NodeOutput)} == {"4", "6"}
    _, cached_sink = run(engine, chain_prompt())
    assert sorted(cached_sink.of_type(NodesCached)[0].node_ids) == sorted(chain_prompt())
    outputs = cached_sink.of_type(NodeOutput)
    assert {e.node_id for e in outputs} == {"4", "6"} and all(e.cached for e in outputs)
    assert not cached_sink.of_type(NodeStarted)


def test_output_nodes_run_as_early_as_dependencies_allow(runs: Runs) -> None:
    engine = engine_for(make_registry(runs))
    _, sink = run(engine, chain_prompt())
    started = [e.node_id for e in sink.of_type(NodeStarted)]
    assert started.index("6") == started.index("5") + 1
    assert started.index("4") == started.index("3") + 1


def _start_slow_job(engine: Any, prompt: dict[str, Any], job_id: str) -> tuple[Any, Any, Any]:
    sink_events: list[Any] = []
    results: list[Any] = []
    thread = threading.Thread(
        target=lambda: results.append(engine.execute(JobRequest(job_id, prompt),
                                                     sink_events.append)))
    thread.start()
    return thread, results, sink_events


def test_cancel_stops_a_long_node_within_one_step(runs: Runs) -> None:
    registry = make_registry(runs)
    slow = registry.get("Slow")
    engine = engine_for(registry)
    prompt = {"1": {"class_type": "Constant", "inputs": {}},
              "2": {"class_type": "Slow", "inputs": {"a": ["1", 0], "steps": 50}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    thread, results, events = _start_slow_job(engine, prompt, "slow-job")
    for _ in range(3):  # let three steps pass
        assert slow.step_done.acquire(timeout=5)
        slow.step_event.set()
        slow.step_event.clear()
    assert slow.step_done.acquire(timeout=5)  # step 4 waiting
    assert engine.cancel("slow-job")
    slow.step_event.set()
    thread.join(5)
    assert not thread.is_alive()
    (result,) = results
    assert result.status == "interrupted" and result.interrupted_at == "2"
    progress = [e for e in events if isinstance(e, NodeProgress)]
    assert [e.value for e in progress] == [1, 2, 3]
    assert "3" not in runs.by_node
    assert any(isinstance(e, JobInterrupted) and e.node_id == "2" for e in events)
    assert not engine.cancel("slow-job")  # no longer running


def test_cancel_is_checked_between_nodes() -> None:
    number = socket_type("NUMBER")
    ran: list[str] = []
    holder: dict[str, Any] = {}

    class CancelSelf(Node):
        outputs = (Output(number),)

        def run(self, ctx: RunContext) -> tuple[Any, ...]:
            ran.append(ctx.node_id)
            holder["engine"].cancel(ctx.job_id)  # does not check: the loop must
            return (1,)

    class Sink(Node):
        output_node = True
        inputs = (Link("a", number),)

        def run(self, ctx: RunContext, a: Any) -> tuple[Any, ...]:
            ran.append(ctx.node_id)
            return ()

    registry = Registry()
    registry.register_all([CancelSelf, Sink])
    engine = holder["engine"] = engine_for(registry)
    result, _ = run(engine, {"1": {"class_type": "CancelSelf", "inputs": {}},
                             "2": {"class_type": "Sink", "inputs": {"a": ["1", 0]}}})
    assert result.status == "interrupted" and ran == ["1"]


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_list_semantics(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    prompt = {"1": {"class_type": "MakeList", "inputs": {"start": 1, "count": 3}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 10}},
              "3": {"class_type": "Total", "inputs": {"values": ["2", 0]}},
              "4": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
              "5": {"class_type": "Show", "inputs": {"value": ["3", 0]}}}
    result, _ = run(engine, prompt)
    assert result.outputs["4"]["numbers"] == [11, 12, 13]  # mapped once per element
    assert result.outputs["4"]["labels"] == ["", "", ""]
    assert result.outputs["5"]["numbers"] == [36]  # input_is_list: one call
    assert runs.by_node["2"] == 3 and runs.by_node["3"] == 1


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_lazy_inputs_evaluate_only_the_needed_branch(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 1}},
              "2": {"class_type": "Constant", "inputs": {"value": 2}},
              "3": {"class_type": "Switch", "inputs": {"use_a": False, "a": ["1", 0],
                                                       "b": ["2", 0]}},
              "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}}}
    result, _ = run(engine, prompt)
    assert result.outputs["4"]["numbers"] == [2.0]
    assert "1" not in runs.by_node and runs.by_node["2"] == 1


def test_async_node_runs(runs: Runs) -> None:
    engine = engine_for(make_registry(runs))
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 21}},
              "2": {"class_type": "AsyncDouble", "inputs": {"a": ["1", 0]}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    result, _ = run(engine, prompt)
    assert result.outputs["3"]["numbers"] == [42.0]


def test_execute_async_runs_off_the_event_loop(runs: Runs) -> None:
    engine = engine_for(make_registry(runs))
    loop_thread: list[int] = []
    event_threads: set[int] = set()

    async def main() -> Any:
        loop_thread.append(threading.get_ident())
        sink = lambda event: event_threads.add(threading.get_ident())  # noqa: E731
        return await engine.execute_async(JobRequest("a1", chain_prompt()), sink)

    result = asyncio.run(main())
    assert result.ok and result.outputs["4"]["numbers"] == [15.0]
    assert len(event_threads) == 1 and loop_thread[0] not in event_threads


@pytest.mark.parametrize(("message", "status"), [("", "success"), ("closed!", "failed")])
def test_blocked_outputs(runs: Runs, message: str, status: str) -> None:
    engine = engine_for(make_registry(runs))
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 1}},
              "2": {"class_type": "Gate", "inputs": {"a": ["1", 0], "open": False,
                                                     "message": message}},
              "3": {"class_type": "Add", "inputs": {"a": ["2", 0]}},
              "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}}}
    result, _ = run(engine, prompt)
    assert result.status == status
    assert "3" not in runs.by_node and "4" not in runs.by_node
    if status == "failed":
        assert result.failure is not None and result.failure.node_id == "3"
        assert "closed!" in result.failure.message
    else:
        assert "4" not in result.outputs


def test_five_thousand_node_chain(runs: Runs) -> None:
    engine = engine_for(make_registry(runs))
    prompt: dict[str, Any] = {"0": {"class_type": "Constant", "inputs": {"value": 0}}}
    for i in range(1, 5001):
        prompt[str(i)] = {"class_type": "Add", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    prompt["out"] = {"class_type": "Show", "inputs": {"value": ["5000", 0]}}
    result, _ = run(engine, prompt)
    assert result.ok and result.outputs["out"]["numbers"] == [5000.0]
    runs.clear()
    again, _ = run(engine, prompt)
    assert again.ok and runs.total == 0


class _Blob:
    pass


def test_intermediate_values_are_released() -> None:
    number = socket_type("BLOB")
    refs: list[weakref.ref[_Blob]] = []
    seen_alive: list[bool] = []

    class Make(Node):
        outputs = (Output(number),)

        def run(self, ctx: RunContext) -> tuple[Any, ...]:
            blob = _Blob()
            refs.append(weakref.ref(blob))
            return (blob,)

    class Use(Node):
        inputs = (Link("a", number),)
        outputs = (Output(number),)

        def run(self, ctx: RunContext, a: Any) -> tuple[Any, ...]:
            return (1,)

    class Check(Node):
        output_node = True
        inputs = (Link("a", number),)

        def run(self, ctx: RunContext, a: Any) -> NodeResult:
            gc.collect()
            seen_alive.append(refs[0]() is not None)
            return NodeResult((), {"alive": [seen_alive[-1]]})

    registry = Registry()
    registry.register_all([Make, Use, Check])
    engine = engine_for(registry, "none")
    engine.ordering = FifoOrdering()
    result, _ = run(engine, {"1": {"class_type": "Make", "inputs": {}},
                             "2": {"class_type": "Use", "inputs": {"a": ["1", 0]}},
                             "3": {"class_type": "Check", "inputs": {"a": ["2", 0]}}})
    assert result.ok and seen_alive == [False]


class _Priority:
    """Runs ready nodes in a fixed id order (to force awkward schedules)."""

    def __init__(self, order: list[str]) -> None:
        self.order = order

    def pick(self, ready: Any, state: Any) -> int:
        return min(range(len(ready)), key=lambda i: self.order.index(ready[i]))


def test_lazy_input_whose_other_consumers_finished_first(runs: Runs) -> None:
    engine = engine_for(make_registry(runs), "none")
    engine.ordering = _Priority(["1", "2", "3", "9", "10", "11"])
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 7}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
              "9": {"class_type": "Switch", "inputs": {"use_a": True, "a": ["1", 0],
                                                       "b": ["11", 0]}},
              "10": {"class_type": "Show", "inputs": {"value": ["9", 0]}},
              "11": {"class_type": "Constant", "inputs": {"value": 5}}}
    result, _ = run(engine, prompt)
    assert result.ok and result.outputs["10"]["numbers"] == [7.0]
    assert result.outputs["3"]["numbers"] == [8.0]
    assert "11" not in runs.by_node


def test_a_cancel_before_the_job_starts_is_kept(runs: Runs) -> None:
    engine = engine_for(make_registry(runs))
    early = threading.Event()
    early.set()  # e.g. a queue cancelled the job between claiming and starting it
    result = engine.execute(JobRequest("early", chain_prompt()), cancel_event=early)
    assert result.status == "interrupted" and runs.total == 0
