"""Poison-job protection in the job store: crashes are counted in the file, a job is re-queued
after a crash at most once (worker crash or server crash alike), and files written before the
count existed open and salvage as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from executor.jobs import JobOutcome, JobStatus
from server.finished_job import FinishedJob
from server.job_store import JobStore
from server.store_integrity import salvage_store
from tests.server.test_job_store import record

CRASHED = FinishedJob(JobOutcome("x", JobStatus.FAILED, crash="the worker process was killed"))


def running(store: JobStore, prompt_id: str) -> None:
    claimed, _ = store.claim_next()
    assert claimed is not None and claimed.prompt_id == prompt_id


def status(store: JobStore, prompt_id: str) -> JobStatus:
    found = store.get(prompt_id)
    assert found is not None
    return found.status


def test_a_crash_fails_the_job_unless_requeue(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.add(record("a"))
    store.add(record("b"))
    running(store, "a")
    assert store.record_crash("a", CRASHED, requeue=False) == (False, 1)
    assert status(store, "a") is JobStatus.FAILED and store.crashes("a") == 1
    found = store.get("a")
    assert found is not None and found.result is not None
    assert found.result.outcome.crash == "the worker process was killed"


def test_requeue_once_then_fail(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.add(record("a"))
    store.add(record("b"))
    running(store, "a")
    assert store.record_crash("a", CRASHED, requeue=True) == (True, 2)
    running(store, "a")  # back at its old place: first again
    assert store.record_crash("a", CRASHED, requeue=True) == (False, 1)
    assert status(store, "a") is JobStatus.FAILED and store.crashes("a") == 2
    running(store, "b")


def test_a_restart_honours_the_count(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = JobStore(path)
    store.add(record("a"))
    running(store, "a")
    assert store.record_crash("a", CRASHED, requeue=True)[0]  # the worker crashed once
    running(store, "a")
    store._db.close()  # then the server died while it ran again

    reopened = JobStore(path)
    assert reopened.boot("requeue")[2] == ["a"]
    assert status(reopened, "a") is JobStatus.LOST and reopened.crashes("a") == 2
    found = reopened.get("a")
    assert found is not None and found.result is not None and found.result.error is not None
    assert "2 crashes" in found.result.error["exception_message"]


def test_files_from_before_the_count_open_and_salvage(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    store = JobStore(old)
    store.add(record("a"))
    store.close()
    db = sqlite3.connect(old)
    db.execute("ALTER TABLE jobs DROP COLUMN crashes")  # as an older version wrote it
    db.commit()
    db.close()
    assert salvage_store(old, tmp_path / "new.db") == 1
    rescued = JobStore(tmp_path / "new.db")
    assert rescued.crashes("a") == 0 and status(rescued, "a") is JobStatus.PENDING
    reopened = JobStore(old)  # the column is added in place
    running(reopened, "a")
    assert reopened.record_crash("a", CRASHED, requeue=True)[0] and reopened.crashes("a") == 1
