"""The job database's integrity: damaged files are named, kept and refused at start; damaged
rows are skipped by list reads and a structured error for that job only; checkpoints keep the
WAL short."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from executor.jobs import JobOutcome, JobStatus
from server import store_integrity
from server.finished_job import FinishedJob
from server.job_rows import DamagedRecordError
from server.job_store import JobStore
from server.store_integrity import (
    DamagedStoreError,
    backup_store,
    check_store,
    open_store,
    salvage_store,
)
from tests.server.conftest import ClientFactory, make_app, make_settings
from tests.server.store_damage import (
    damage_page_of,
    marked_record,
    not_a_database,
    store_with_jobs,
)
from tests.server.stub_pack import server_registry

DAMAGED = 30  # a finished job
DAMAGED_PENDING = 50


def main_file_jobs(path: Path) -> int:
    """Jobs in the main database file alone (the WAL ignored)."""
    raw = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return int(raw.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    except sqlite3.OperationalError:  # no table in the main file yet
        return 0
    finally:
        raw.close()


def wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_wal_is_checkpointed_when_the_queue_goes_idle(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = JobStore(path)
    store.add(marked_record(1))
    store.add(marked_record(2))
    assert wal_size(path) > 0 and main_file_jobs(path) == 0
    claimed, _ = store.claim_next()
    assert claimed is not None
    assert store.finish(claimed.prompt_id, FinishedJob(JobOutcome(claimed.prompt_id))) == 1
    assert main_file_jobs(path) == 0  # not idle yet: only in the WAL
    claimed, _ = store.claim_next()
    assert claimed is not None
    assert store.finish(claimed.prompt_id, FinishedJob(JobOutcome(claimed.prompt_id))) == 0
    assert main_file_jobs(path) == 2  # idle: everything is in the main file
    Path(f"{path}-wal").unlink()  # losing the WAL now loses nothing
    store._db.close()
    reopened = JobStore(path)
    assert [r.prompt_id for r in reopened.history()] == ["job-001", "job-002"]
    reopened.close()
    assert wal_size(path) == 0  # shutdown empties the WAL file


def test_a_damaged_file_is_kept_named_and_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store_with_jobs(path)
    damage_page_of(path, DAMAGED)
    assert check_store(path) and check_store(path, full=True)
    with pytest.raises(DamagedStoreError) as caught:
        open_store(path, history_limit=100, start_empty_if_damaged=False)
    message = str(caught.value)
    copy = caught.value.copy
    assert copy is not None and copy.exists() and copy.name.startswith("jobs.db.damaged-")
    assert str(path) in message and str(copy) in message
    assert "latentgraph db backup" in message and "latentgraph db salvage" in message
    assert "--start-empty-if-damaged" in message
    with pytest.raises(DamagedStoreError) as again:  # a restart loop does not copy again
        open_store(path, history_limit=100, start_empty_if_damaged=False)
    assert again.value.copy == copy and len(list(tmp_path.glob("jobs.db.damaged-*"))) == 1


def test_start_empty_if_damaged_sets_the_store_aside(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    not_a_database(path)  # "file is not a database": no raw traceback either
    assert "not a database" in check_store(path)[0]
    store = open_store(path, history_limit=100, start_empty_if_damaged=True)
    assert store.remaining() == 0 and store.history() == []
    store.close()
    (copy,) = tmp_path.glob("jobs.db.damaged-*")
    assert copy.stat().st_size == 3 * 4096
    assert check_store(path) == []


def test_damaged_rows_are_skipped_by_lists_and_refused_alone(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store_with_jobs(path)
    damage_page_of(path, DAMAGED)
    store = JobStore(path)  # opened without the start-up check, as if damaged while serving
    history = store.history()
    ids = {r.prompt_id for r in history}
    assert f"job-{DAMAGED:03d}" not in ids and "job-000" in ids and 20 < len(ids) < 40
    page, total = store.list_jobs(list(JobStatus), descending=False)
    assert total == len(page) and "job-059" in {r.prompt_id for r in page}
    running, pending = store.queue()
    assert len(pending) == 20
    with pytest.raises(DamagedRecordError, match=f"job-{DAMAGED:03d}"):
        store.get(f"job-{DAMAGED:03d}")
    assert store.get("job-000") is not None
    store.close()


def test_a_queued_job_whose_record_is_unreadable_fails_alone(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.add(marked_record(1))
    store.add(marked_record(2))
    store._db.execute("UPDATE jobs SET prompt = '{broken' WHERE prompt_id = 'job-001'")
    claimed, _ = store.claim_next()
    assert claimed is not None and claimed.prompt_id == "job-002"
    failed = store.list_jobs([JobStatus.FAILED])[0]
    assert failed == []  # unreadable: skipped by lists …
    row = store._db.execute("SELECT status, result FROM jobs WHERE prompt_id = 'job-001'"
                            ).fetchone()
    assert row[0] == "failed"  # … but marked failed, with why
    assert json.loads(row[1])["error"]["exception_type"] == "JobRecordDamaged"
    store.close()


@pytest.mark.asyncio
async def test_the_server_answers_around_a_damaged_page(
        aiohttp_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    store_with_jobs(settings.db_path)
    damage_page_of(settings.db_path, DAMAGED)
    monkeypatch.setattr(store_integrity, "check_store", lambda path, full=False: [])
    client: TestClient = await aiohttp_client(make_app(server_registry(), settings))
    for path in ("/api/jobs", "/api/history", "/history?max_items=5", "/queue",
                 "/api/jobs?status=completed&sort_by=execution_duration"):
        response = await client.get(path)
        assert response.status == 200, (path, await response.text())
    jobs = (await (await client.get("/api/jobs?limit=1000")).json())["jobs"]
    assert 40 < len(jobs) < 60
    response = await client.get(f"/api/jobs/job-{DAMAGED:03d}")
    assert response.status == 500
    body = await response.json()
    assert body["error"]["type"] == "job_record_damaged"
    assert "latentgraph db check" in body["error"]["details"]
    assert str(tmp_path) not in json.dumps(body)
    assert (await client.get("/api/jobs/job-000")).status == 200


def test_create_app_refuses_a_damaged_store(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    not_a_database(settings.db_path)
    with pytest.raises(DamagedStoreError):
        make_app(server_registry(), settings)


def test_backup_and_salvage(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store_with_jobs(path)
    assert backup_store(path, tmp_path / "copy.db") == []
    copy = JobStore(tmp_path / "copy.db")
    assert len(copy.history()) == 40 and copy.remaining() == 20
    copy.close()
    with pytest.raises(FileExistsError):
        backup_store(path, tmp_path / "copy.db")
    damage_page_of(path, DAMAGED)
    assert backup_store(path, tmp_path / "bad-copy.db")  # the damage is copied, and named
    assert 40 < salvage_store(path, tmp_path / "saved.db") < 60
    saved = JobStore(tmp_path / "saved.db")
    assert check_store(tmp_path / "saved.db", full=True) == []
    number, _ = saved.add(marked_record(99))
    assert number > 60  # new jobs still queue after the salvaged ones
    saved.close()
