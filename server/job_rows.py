"""Job rows of the store, read so that one damaged row never hides the others.

A list read (queue, history, jobs API) **skips** a row it cannot read and logs a warning naming
it: its JSON does not parse, its status is unknown, or SQLite reports the page holding it as
malformed (the readable rows are then copied, by id range, to a temporary table and the query
runs there: only the rows on the bad page are lost).
A read of one job that hits such a row raises :class:`DamagedRecordError` (the server answers
500 ``job_record_damaged`` for that job only). If even the list of row ids cannot be read, the
store as a whole is damaged: ``sqlite3.DatabaseError`` propagates (500 ``job_store_damaged``).
``latentgraph db check`` names the damage; ``latentgraph db backup`` copies what is readable.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from executor.jobs import JobStatus
from server.finished_job import FinishedJob

logger = logging.getLogger(__name__)

COLUMNS = ("seq, prompt_id, number, status, client_id, prompt, extra_data, outputs_to_execute, "
           "targets, strict, workflow_id, create_time, start_time, end_time, result")


@dataclass
class JobRecord:
    """One job as stored. ``client_id`` is kept for routing events and is never shown."""

    prompt_id: str
    number: float
    status: JobStatus
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs_to_execute: list[str]
    client_id: str | None = None
    targets: list[str] | None = None
    strict: bool = False
    workflow_id: str | None = None
    create_time: int = 0
    start_time: int | None = None
    end_time: int | None = None
    result: FinishedJob | None = None
    seq: int = 0


class DamagedRecordError(Exception):
    """A stored job that cannot be read back."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"the stored record of {what} is damaged: {reason}")
        self.what = what
        self.reason = reason


def _result(row: sqlite3.Row, status: JobStatus) -> FinishedJob | None:
    if not row["result"]:
        return None
    return FinishedJob.from_json(row["result"], job_id=row["prompt_id"], status=status)


def _decode(row: sqlite3.Row) -> JobRecord:
    status = JobStatus(row["status"])
    return JobRecord(
        prompt_id=row["prompt_id"], number=row["number"], status=status,
        prompt=json.loads(row["prompt"]), extra_data=json.loads(row["extra_data"]),
        outputs_to_execute=json.loads(row["outputs_to_execute"]), client_id=row["client_id"],
        targets=json.loads(row["targets"]) if row["targets"] else None,
        strict=bool(row["strict"]), workflow_id=row["workflow_id"],
        create_time=row["create_time"], start_time=row["start_time"],
        end_time=row["end_time"], result=_result(row, status),
        seq=row["seq"],
    )


def decode(row: sqlite3.Row) -> JobRecord:
    """The job a row holds, or :class:`DamagedRecordError`."""
    try:
        return _decode(row)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        what = f"job {row['prompt_id']!r} (row {row['seq']})"
        raise DamagedRecordError(what, f"{type(exc).__name__}: {exc}"[:200]) from None


def read_one(db: sqlite3.Connection, where: str, args: Sequence[Any], what: str
             ) -> JobRecord | None:
    """The one job matching ``where`` (``None`` if there is none)."""
    try:
        row = db.execute(f"SELECT {COLUMNS} FROM jobs WHERE {where}", args).fetchone()
    except sqlite3.DatabaseError as exc:
        raise DamagedRecordError(what, str(exc)) from None
    return decode(row) if row is not None else None


def readable(rows: Sequence[sqlite3.Row]) -> list[JobRecord]:
    records = []
    for row in rows:
        try:
            records.append(decode(row))
        except DamagedRecordError as exc:
            logger.warning("skipping a job: %s (run 'latentgraph db check')", exc)
    return records


SALVAGE = "temp.salvaged_jobs"
_PROBE = 256


def _copy_range(db: sqlite3.Connection, low: int, high: int) -> None:
    """Copy the readable rows with ``low <= seq <= high`` into the salvage table."""
    try:
        db.execute(f"INSERT INTO {SALVAGE} SELECT * FROM jobs WHERE seq BETWEEN ? AND ?",
                   (low, high))
        return
    except sqlite3.DatabaseError:
        if low == high:
            logger.warning("skipping the job in row %d: its page is damaged (run "
                           "'latentgraph db check')", low)
            return
    middle = (low + high) // 2
    _copy_range(db, low, middle)
    _copy_range(db, middle + 1, high)


def _last_seq(db: sqlite3.Connection) -> int:
    try:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone()
    except sqlite3.DatabaseError:
        row = db.execute("SELECT MAX(seq) FROM jobs").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@contextmanager
def salvaged(db: sqlite3.Connection) -> Iterator[str]:
    """A temporary table of every job row that can still be read (rows are looked up by id
    range, which never crosses a damaged page more than it must)."""
    db.execute(f"DROP TABLE IF EXISTS {SALVAGE}")
    db.execute(f"CREATE TABLE {SALVAGE} AS SELECT * FROM jobs WHERE 0")
    try:
        last = _last_seq(db)
        for low in range(1, last + 1, _PROBE):
            _copy_range(db, low, min(last, low + _PROBE - 1))
        yield SALVAGE
    finally:
        db.execute(f"DROP TABLE IF EXISTS {SALVAGE}")


def read_many(db: sqlite3.Connection, query: str, args: Sequence[Any]) -> list[JobRecord]:
    """The readable jobs of ``SELECT {columns} FROM {table} …``, in its order."""
    try:
        rows = db.execute(query.format(columns=COLUMNS, table="jobs"), args).fetchall()
    except sqlite3.DatabaseError as exc:
        logger.warning("reading jobs hit a damaged page (%s); reading what is readable", exc)
        with salvaged(db) as table:
            rows = db.execute(query.format(columns=COLUMNS, table=table), args).fetchall()
    return readable(rows)
