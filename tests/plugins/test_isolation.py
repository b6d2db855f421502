"""A plugin node that raises, loops until interrupted or leaks memory: the job says what
happened, cancellation stops it within a second, the leak is reported — and the engine keeps
running jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pytest

from executor.jobs import JobStatus
from tests.plugins.support import PluginEnv

Load = Callable[..., PluginEnv]


def test_a_node_that_raises_fails_its_job_and_the_next_job_runs(plugin_env: Load) -> None:
    env = plugin_env("RunFailPack", "ListPack")
    failed = env.run({"1": {"class_type": "Explodes", "inputs": {"message": "pack bug"}}})
    assert failed.status is JobStatus.FAILED and failed.failure is not None
    assert failed.failure.exception_type == "ValueError"
    assert failed.failure.message == "pack bug" and failed.failure.node_type == "Explodes"
    assert any("RunFailPack/__init__.py" in line for line in failed.failure.traceback)
    ok = env.run({"1": {"class_type": "MakeList", "inputs": {"count": 2}},
                  "2": {"class_type": "SumList", "inputs": {"values": ["1", 0], "offset": 0}}})
    assert ok.ok and ok.outputs["2"]["total"] == [3]


@pytest.mark.parametrize("node", ["LoopUntilInterrupted", "ProgressUntilInterrupted"])
def test_a_looping_node_stops_within_a_second_of_cancel(plugin_env: Load, node: str) -> None:
    env = plugin_env("LoopPack")
    started = sys.modules["LoopPack"].STARTED
    started.clear()
    thread, results = env.run_in_thread({"1": {"class_type": node, "inputs": {}}}, "loop-job")
    assert started.wait(30), "the node never started"
    time.sleep(0.05)
    asked = time.monotonic()
    assert env.engine.cancel("loop-job")
    thread.join(10)
    stopped = time.monotonic() - asked
    assert not thread.is_alive() and stopped < 1.0, f"stopped after {stopped:.2f} s"
    assert results[0].status is JobStatus.INTERRUPTED and results[0].interrupted_at == "1"


def test_a_node_leaking_memory_is_reported(plugin_env: Load,
                                           caplog: pytest.LogCaptureFixture) -> None:
    env = plugin_env("LeakPack")
    notes = []
    for run in range(4):
        result = env.run({"1": {"class_type": "Leaky", "inputs": {"run": run}},
                          "2": {"class_type": "Tidy", "inputs": {"run": run}}})
        assert result.ok, result.failure
        notes.append(result.notes.get("1", {}))
    report = env.reports["LeakPack"]
    assert report.retained.get("Leaky", 0) >= 3 * 20 * 2**20, report.retained
    assert "Tidy" not in report.retained
    assert notes[-1].get("retained_bytes", 0) > 20 * 2**20
    assert any("keeps memory run after run" in r.message and "Leaky" in r.message
               for r in caplog.records)
    assert report.to_dict()["retained_bytes"]["Leaky"] == report.retained["Leaky"]
