"""The durable job store: SQLite in WAL mode, one connection, every change one transaction.

Jobs move through ``pending → running → success | failed | interrupted`` (``cancelled`` when
removed while pending, ``lost`` when the process died while it ran): ``executor.jobs.JobStatus``.
A job is one row; moving it from the queue to the history is one UPDATE, so no reader ever sees
it in both or in neither. Rows written when a failure was stored as ``error`` are read as
``failed``.

Durability: WAL with ``synchronous=NORMAL`` survives a killed process (``kill -9``) without
losing a committed job; a power cut may lose the last commits (``synchronous="FULL"`` closes
that at the price of an fsync per change). The WAL is checkpointed into the main file (and
truncated) at clean points: after start-up, whenever a job ends and the queue is empty, and at
shutdown, so the WAL holds only the changes since the last idle moment. (A deleted or damaged
WAL loses those changes without a trace: SQLite cannot tell.) Damaged rows are skipped by list
reads, never a permanent error for all (``server.job_rows``); the server checks the whole file
when it starts (``server.store_integrity``). The priority counter lives in the database, so jobs
queued after a restart sort after the resumed ones. Calls are synchronous and fast; the server
makes them from one dedicated thread (``server.job_queue``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from executor.jobs import JobOutcome, JobStatus
from server.errors import DuplicateJobError
from server.finished_job import FinishedJob
from server.job_rows import (
    COLUMNS,
    DamagedRecordError,
    JobRecord,
    decode,
    read_many,
    read_one,
    readable,
    salvaged,
)
from server.json_text import to_json

logger = logging.getLogger(__name__)

PENDING, RUNNING = JobStatus.PENDING, JobStatus.RUNNING
HISTORY_STATUSES = (JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.INTERRUPTED, JobStatus.LOST)
TERMINAL_STATUSES = (*HISTORY_STATUSES, JobStatus.CANCELLED)
_PENDING, _RUNNING = PENDING.value, RUNNING.value  # as stored
_HISTORY = tuple(s.value for s in HISTORY_STATUSES)
_TERMINAL = tuple(s.value for s in TERMINAL_STATUSES)
MAX_CRASH_REQUEUES = 1  # a job that crashed its process is re-queued at most once
SORT_COLUMNS = {"created_at": "create_time", "execution_duration":
                "COALESCE(end_time - start_time, -1)"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT NOT NULL UNIQUE,
    number REAL NOT NULL,
    status TEXT NOT NULL,
    client_id TEXT,
    prompt TEXT NOT NULL,
    extra_data TEXT NOT NULL,
    outputs_to_execute TEXT NOT NULL,
    targets TEXT,
    strict INTEGER NOT NULL DEFAULT 0,
    workflow_id TEXT,
    create_time INTEGER NOT NULL,
    start_time INTEGER,
    end_time INTEGER,
    done_seq INTEGER,
    result TEXT,
    crashes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, number, seq);
CREATE INDEX IF NOT EXISTS jobs_done ON jobs (done_seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
UPDATE jobs SET status = 'failed' WHERE status = 'error';
"""
def now_ms() -> int:
    return int(time.time() * 1000)


class JobStore:
    """Queue and history in one SQLite file. Thread-safe; meant to be used from one thread."""

    def __init__(self, path: Path, *, history_limit: int = 10_000,
                 synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.history_limit = history_limit
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Files written before a column existed get it (with its default)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "crashes" not in columns:
            self._db.execute("ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy the WAL into the main file (a clean point). ``PASSIVE`` never waits for
        another process reading the file (``latentgraph db backup``); ``TRUNCATE`` (start-up,
        shutdown) also empties the WAL file."""
        with self._lock:
            busy, _, _ = self._db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        if busy:
            logger.info("WAL checkpoint of %s was blocked by a reader; it will be retried",
                        self.path.name)

    def close(self) -> None:
        with self._lock:
            self.checkpoint("TRUNCATE")
            self._db.close()

    # -- meta -----------------------------------------------------------------------------
    def _meta(self, db: sqlite3.Connection, key: str, default: str) -> str:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                   "SET value = excluded.value", (key, value))

    def _bump(self, db: sqlite3.Connection, key: str) -> int:
        value = int(self._meta(db, key, "0")) + 1
        self._set_meta(db, key, str(value))
        return value

    def boot(self, on_crash: str) -> tuple[str, int, list[str]]:
        """Start-up: (instance id, epoch, ids of jobs found running — a crash or a kill)."""
        with self._tx() as db:
            instance_id = self._meta(db, "instance_id", "")
            if not instance_id:
                instance_id = uuid.uuid4().hex
                self._set_meta(db, "instance_id", instance_id)
            epoch = self._bump(db, "epoch")
            stranded = [r[0] for r in db.execute(
                "SELECT prompt_id FROM jobs WHERE status = ? ORDER BY number, seq", (_RUNNING,))]
            requeued = [p for p in stranded if self._crashed(db, p, on_crash == "requeue")]
            for prompt_id in (p for p in stranded if p not in requeued):
                self._finish(db, prompt_id, _lost_result(prompt_id, self._crashes(db, prompt_id)))
        if stranded:
            logger.warning("%d job(s) were running when the server stopped; re-queued: %s; "
                           "marked lost: %s", len(stranded), requeued,
                           [p for p in stranded if p not in requeued])
        self.checkpoint("TRUNCATE")
        return instance_id, epoch, stranded

    # -- poison-job protection ------------------------------------------------------------
    def _crashes(self, db: sqlite3.Connection, prompt_id: str) -> int:
        row = db.execute("SELECT crashes FROM jobs WHERE prompt_id = ?", (prompt_id,)).fetchone()
        return int(row[0]) if row else 0

    def _crashed(self, db: sqlite3.Connection, prompt_id: str, requeue: bool) -> bool:
        """Count a crash of a running job; put it back in the queue (at its old place) if
        ``requeue`` and it never crashed before. Returns whether it was re-queued."""
        db.execute("UPDATE jobs SET crashes = crashes + 1 WHERE prompt_id = ?", (prompt_id,))
        if not requeue or self._crashes(db, prompt_id) > MAX_CRASH_REQUEUES:
            return False
        db.execute("UPDATE jobs SET status = ?, start_time = NULL WHERE prompt_id = ? AND "
                   "status = ?", (_PENDING, prompt_id, _RUNNING))
        return True

    def record_crash(self, prompt_id: str, result: FinishedJob, *, requeue: bool
                     ) -> tuple[bool, int]:
        """The process running a job died: count it and re-queue the job once (``requeue``)
        or finish it with ``result``. Returns (re-queued, jobs queued or running)."""
        with self._tx() as db:
            requeued = self._crashed(db, prompt_id, requeue)
            if not requeued:
                self._finish(db, prompt_id, result)
            remaining = self._remaining(db)
        if remaining == 0:
            self.checkpoint()
        return requeued, remaining

    def crashes(self, prompt_id: str) -> int:
        """How many crashes the job was running during (0 for an unknown job)."""
        with self._lock:
            return self._crashes(self._db, prompt_id)

    # -- queue ----------------------------------------------------------------------------
    def _remaining(self, db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)",
                              (_PENDING, _RUNNING)).fetchone()[0])

    def remaining(self) -> int:
        with self._lock:
            return self._remaining(self._db)

    def add(self, record: JobRecord, *, number: float | None = None, front: bool = False
            ) -> tuple[float, int]:
        """Queue a job; returns (its priority number, jobs queued or running)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM jobs WHERE prompt_id = ?",
                          (record.prompt_id,)).fetchone():
                raise DuplicateJobError(record.prompt_id)
            counter = self._bump(db, "counter")
            record.number = number if number is not None else (-counter if front else counter)
            db.execute(
                "INSERT INTO jobs (prompt_id, number, status, client_id, prompt, extra_data, "
                "outputs_to_execute, targets, strict, workflow_id, create_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.prompt_id, record.number, _PENDING, record.client_id,
                 to_json(record.prompt), to_json(record.extra_data),
                 to_json(record.outputs_to_execute),
                 to_json(record.targets) if record.targets is not None else None,
                 int(record.strict), record.workflow_id, record.create_time or now_ms()))
            return record.number, self._remaining(db)

    def claim_next(self, prompt_id: str | None = None) -> tuple[JobRecord | None, int]:
        """Move the first pending job (lowest number, then oldest), or the pending job
        ``prompt_id`` (``None`` if it is not pending), to running. A pending job whose record
        cannot be read is marked failed (with why) and skipped."""
        where, args = ("AND prompt_id = ?", (_PENDING, prompt_id)) if prompt_id is not None \
            else ("", (_PENDING,))
        with self._tx() as db:
            while True:
                row = db.execute(f"SELECT {COLUMNS} FROM jobs WHERE status = ? {where} "
                                 "ORDER BY number, seq LIMIT 1", args).fetchone()
                if row is None:
                    return None, self._remaining(db)
                try:
                    claimed = decode(row)
                except DamagedRecordError as exc:
                    logger.error("cannot run a queued job: %s", exc)
                    self._finish(db, row["prompt_id"], _damaged_result(row["prompt_id"], exc))
                    continue
                claimed.status, claimed.start_time = RUNNING, now_ms()
                db.execute("UPDATE jobs SET status = ?, start_time = ? WHERE seq = ?",
                           (_RUNNING, claimed.start_time, claimed.seq))
                return claimed, self._remaining(db)

    def finish(self, prompt_id: str, result: FinishedJob) -> int:
        """Record how a running job ended (queue → history in one UPDATE)."""
        if result.status not in HISTORY_STATUSES:
            raise ValueError(f"finish status {result.status.value!r} is not one of "
                             f"{[s.value for s in HISTORY_STATUSES]}")
        with self._tx() as db:
            self._finish(db, prompt_id, result)
            remaining = self._remaining(db)
        if remaining == 0:  # idle: a clean point
            self.checkpoint()
        return remaining

    def _finish(self, db: sqlite3.Connection, prompt_id: str, result: FinishedJob) -> None:
        done = self._bump(db, "done")
        db.execute("UPDATE jobs SET status = ?, end_time = ?, done_seq = ?, result = ? "
                   "WHERE prompt_id = ?",
                   (result.status.value, now_ms(), done, result.to_json(), prompt_id))
        db.execute("DELETE FROM jobs WHERE done_seq IS NOT NULL AND done_seq <= ?",
                   (done - self.history_limit,))

    def requeue(self, prompt_id: str) -> int:
        """Put a running job back in the queue at its old place (graceful shutdown)."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET status = ?, start_time = NULL WHERE prompt_id = ? "
                       "AND status = ?", (_PENDING, prompt_id, _RUNNING))
            return self._remaining(db)

    def cancel_pending(self, prompt_ids: Sequence[str] | None) -> tuple[list[str], int]:
        """Cancel the given pending jobs (all when ``None``); running ones are not touched."""
        with self._tx() as db:
            if prompt_ids is None:
                ids = [r[0] for r in db.execute(
                    "SELECT prompt_id FROM jobs WHERE status = ?", (_PENDING,))]
            else:
                ids = [p for p in dict.fromkeys(prompt_ids) if db.execute(
                    "SELECT 1 FROM jobs WHERE prompt_id = ? AND status = ?",
                    (p, _PENDING)).fetchone()]
            for prompt_id in ids:
                self._finish(db, prompt_id,
                             FinishedJob(JobOutcome(prompt_id, JobStatus.CANCELLED)))
            return ids, self._remaining(db)

    # -- reading --------------------------------------------------------------------------
    def get(self, prompt_id: str) -> JobRecord | None:
        """The job, ``None`` if unknown, or :class:`DamagedRecordError`."""
        with self._lock:
            return read_one(self._db, "prompt_id = ?", (prompt_id,), f"job {prompt_id!r}")

    def queue(self) -> tuple[list[JobRecord], list[JobRecord]]:
        """(running, pending) in the order they run; one consistent read."""
        with self._lock:
            records = read_many(self._db, "SELECT {columns} FROM {table} WHERE status IN "
                                "(?, ?) ORDER BY number, seq", (_RUNNING, _PENDING))
        return ([r for r in records if r.status == RUNNING],
                [r for r in records if r.status == PENDING])

    def pending(self, limit: int) -> list[JobRecord]:
        """The first ``limit`` pending jobs, in the order they run (damaged rows skipped)."""
        with self._lock:
            return read_many(self._db, "SELECT {columns} FROM {table} WHERE status = ? "
                             "ORDER BY number, seq LIMIT ?", (_PENDING, limit))

    def history(self, max_items: int | None = None, offset: int | None = None
                ) -> list[JobRecord]:
        """Finished jobs, oldest first; ``max_items`` alone gives the newest N."""
        marks = ", ".join("?" * len(_HISTORY))
        base = f"SELECT {{columns}} FROM {{table}} WHERE status IN ({marks})"
        with self._lock:
            if offset is None and max_items is not None:
                return read_many(self._db, f"{base} ORDER BY done_seq DESC LIMIT ?",
                                 (*_HISTORY, max_items))[::-1]
            return read_many(self._db, f"{base} ORDER BY done_seq LIMIT ? OFFSET ?",
                             (*_HISTORY, -1 if max_items is None else max_items, offset or 0))

    def delete_history(self, prompt_ids: Sequence[str] | None) -> int:
        """Forget finished jobs (all when ``None``); pending and running ones stay."""
        marks = ", ".join("?" * len(_TERMINAL))
        with self._tx() as db:
            if prompt_ids is None:
                cursor = db.execute(f"DELETE FROM jobs WHERE status IN ({marks})",
                                    _TERMINAL)
                return cursor.rowcount
            count = 0
            for prompt_id in prompt_ids:
                count += db.execute(f"DELETE FROM jobs WHERE prompt_id = ? AND status IN "
                                    f"({marks})", (prompt_id, *_TERMINAL)).rowcount
            return count

    def list_jobs(self, statuses: Sequence[JobStatus], *, workflow_id: str | None = None,
                  sort_by: str = "created_at", descending: bool = True,
                  limit: int | None = None, offset: int = 0) -> tuple[list[JobRecord], int]:
        """Jobs whose status is in ``statuses``; (page, total)."""
        where = f"status IN ({', '.join('?' * len(statuses))})"
        args: list[Any] = [s.value for s in statuses]
        if workflow_id is not None:
            where += " AND workflow_id = ?"
            args.append(workflow_id)
        order = f"{SORT_COLUMNS[sort_by]} {'DESC' if descending else 'ASC'}, seq " + (
            "DESC" if descending else "ASC")
        count = f"SELECT COUNT(*) FROM {{table}} WHERE {where}"
        query = f"SELECT {{columns}} FROM {{table}} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        page_args = (*args, -1 if limit is None else limit, offset)
        with self._lock:
            try:
                return self._page(count, query, "jobs", args, page_args)
            except sqlite3.DatabaseError as exc:
                logger.warning("listing jobs hit a damaged page (%s); listing what is readable",
                               exc)
            with salvaged(self._db) as table:
                return self._page(count, query, table, args, page_args)

    def _page(self, count: str, query: str, table: str, args: Sequence[Any],
              page_args: Sequence[Any]) -> tuple[list[JobRecord], int]:
        total = int(self._db.execute(count.format(table=table), args).fetchone()[0])
        rows = self._db.execute(query.format(columns=COLUMNS, table=table), page_args)
        return readable(rows.fetchall()), total


def _damaged_result(prompt_id: str, exc: DamagedRecordError) -> FinishedJob:
    error: dict[str, Any] = {"prompt_id": prompt_id, "node_id": None, "node_type": None,
                             "exception_type": "JobRecordDamaged",
                             "exception_message": f"{exc}; the job was not run",
                             "traceback": [], "executed": []}
    return FinishedJob(JobOutcome(prompt_id, JobStatus.FAILED), [], error)


def _lost_result(prompt_id: str, crashes: int = 1) -> FinishedJob:
    message = ("the server stopped while this job was running (crash or kill); "
               "it was not run again")
    if crashes > 1:
        message += f" (it was running during {crashes} crashes)"
    error: dict[str, Any] = {"prompt_id": prompt_id, "node_id": None, "node_type": None,
             "exception_type": "ServerStopped", "exception_message": message,
             "traceback": [], "executed": []}
    interrupted: dict[str, Any] = {"prompt_id": prompt_id, "node_id": None, "node_type": None,
                                   "executed": [], "timestamp": now_ms()}
    return FinishedJob(JobOutcome(prompt_id, JobStatus.LOST),
                       [["execution_interrupted", interrupted]], error)


__all__ = ["HISTORY_STATUSES", "SORT_COLUMNS", "TERMINAL_STATUSES", "DamagedRecordError",
           "JobRecord", "JobStore", "now_ms"]
