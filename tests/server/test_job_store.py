"""The SQLite job store on its own: order, durable counter, crash policies, retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.jobs import JobOutcome, JobStatus
from server.errors import DuplicateJobError
from server.finished_job import FinishedJob
from server.job_store import JobRecord, JobStore

PENDING, RUNNING, CANCELLED, LOST = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.CANCELLED,
                                     JobStatus.LOST)


def record(prompt_id: str) -> JobRecord:
    return JobRecord(prompt_id=prompt_id, number=0, status=PENDING,
                     prompt={"1": {"class_type": "X", "inputs": {}}}, extra_data={},
                     outputs_to_execute=["1"], client_id="secret-sid")


def claim_ids(store: JobStore) -> list[str]:
    ids = []
    while (claimed := store.claim_next()[0]) is not None:
        ids.append(claimed.prompt_id)
        store.finish(claimed.prompt_id, FinishedJob(JobOutcome(claimed.prompt_id)))
    return ids


def test_order_front_and_explicit_numbers(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.add(record("a"))
    store.add(record("b"))
    store.add(record("front"), front=True)
    store.add(record("explicit"), number=1.5)
    assert store.add(record("c"))[1] == 5
    assert claim_ids(store) == ["front", "a", "explicit", "b", "c"]


@pytest.mark.parametrize("policy", ["interrupt", "requeue"])
def test_restart_keeps_order_and_the_counter(tmp_path: Path, policy: str) -> None:
    store = JobStore(tmp_path / "jobs.db")
    for name in "abcd":
        store.add(record(name))
    running, _ = store.claim_next()
    assert running is not None and running.prompt_id == "a"
    store._db.close()  # the process dies: nothing else is written

    reopened = JobStore(tmp_path / "jobs.db")
    instance, epoch, stranded = reopened.boot(policy)
    assert stranded == ["a"] and epoch == 1 and len(instance) == 32
    number, _ = reopened.add(record("late"))
    assert number == 5  # after every resumed job
    order = claim_ids(reopened)
    if policy == "requeue":
        assert order == ["a", "b", "c", "d", "late"]
    else:
        assert order == ["b", "c", "d", "late"]
        lost = reopened.get("a")
        assert lost is not None and lost.status == LOST
        assert lost.result is not None
        assert lost.result.error is not None
        assert lost.result.error["exception_type"] == "ServerStopped"
    assert reopened.boot(policy)[1] == 2


def test_duplicate_ids_are_refused_and_nothing_is_overwritten(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.add(record("same"))
    with pytest.raises(DuplicateJobError):
        store.add(record("same"))
    assert store.remaining() == 1


def test_history_retention_drops_the_oldest(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", history_limit=3)
    for i in range(5):
        store.add(record(f"j{i}"))
    claim_ids(store)
    assert [r.prompt_id for r in store.history()] == ["j2", "j3", "j4"]
    assert store.get("j0") is None


def test_cancel_pending_leaves_running_alone(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    for name in "abc":
        store.add(record(name))
    store.claim_next()
    cancelled, remaining = store.cancel_pending(["a", "b", "zzz"])
    assert cancelled == ["b"] and remaining == 2
    running, pending = store.queue()
    assert [r.prompt_id for r in running] == ["a"] and [r.prompt_id for r in pending] == ["c"]
    assert store.get("a").status == RUNNING  # type: ignore[union-attr]
    assert store.get("b").status == CANCELLED  # type: ignore[union-attr]
    assert store.history() == []  # cancelled-while-pending is not ComfyUI history
