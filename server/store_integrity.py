"""The job database's integrity: checked at start-up, checked and backed up from the CLI.

At start-up (:func:`open_store`) SQLite's ``quick_check`` reads every page. A damaged file (or
one that is not a database at all) is never opened for writing: a copy is kept next to it
(``jobs.db.damaged-<UTC time>``, with its ``-wal``), and :class:`DamagedStoreError` says which
file, what is wrong and how to recover. The server then refuses to start, unless it was told to
start with an empty store (``serve --start-empty-if-damaged``): the damaged files are moved
aside (the copy stays) and a new, empty store is created.

``latentgraph db check`` runs the full ``integrity_check``; ``latentgraph db backup DEST`` copies
the store with SQLite's online backup API (consistent while the server runs) and checks the
copy; ``latentgraph db salvage DEST`` copies every job row that can still be read into a new
store (the rows on a damaged page are lost, the others keep their order and ids).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
import time
from pathlib import Path

from server.job_rows import salvaged
from server.job_store import JobStore

logger = logging.getLogger(__name__)
SIDE_FILES = ("-wal", "-shm")
DAMAGED = ".damaged-"


class DamagedStoreError(RuntimeError):
    """The job database failed its integrity check; the message says how to recover."""

    def __init__(self, path: Path, problems: list[str], copy: Path | None) -> None:
        self.path, self.problems, self.copy = path, problems, copy
        super().__init__(recovery_advice(path, problems, copy))


def check_store(path: Path, *, full: bool = False) -> list[str]:
    """What is wrong with the database at ``path`` (``[]``: nothing; a missing file is fine).

    ``full`` runs ``integrity_check`` (indexes too), else the faster ``quick_check``.
    """
    if not path.exists():
        return []
    pragma = "integrity_check" if full else "quick_check"
    try:
        db = sqlite3.connect(str(path), isolation_level=None)
        try:
            rows = db.execute(f"PRAGMA {pragma}(20)").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed" …
        return [str(exc)]
    problems = [str(row[0]) for row in rows]
    return [] if problems == ["ok"] else problems


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def keep_damaged_copy(path: Path) -> Path:
    """Copy ``path`` (and its ``-wal``) to ``<path>.damaged-<UTC time>``; an identical earlier
    copy is reused, so a restart loop does not fill the disk."""
    digest = _digest(path)
    for earlier in sorted(path.parent.glob(f"{path.name}{DAMAGED}*"), reverse=True):
        if not earlier.name.endswith(SIDE_FILES) and _digest(earlier) == digest:
            return earlier
    copy = path.with_name(f"{path.name}{DAMAGED}{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    shutil.copy2(path, copy)
    wal = Path(f"{path}-wal")
    if wal.exists():
        shutil.copy2(wal, Path(f"{copy}-wal"))
    return copy


def set_aside(path: Path) -> None:
    """Remove the damaged store's files (a copy was kept) so that a new one can be made."""
    for name in (str(path), *(f"{path}{suffix}" for suffix in SIDE_FILES)):
        Path(name).unlink(missing_ok=True)


def recovery_advice(path: Path, problems: list[str], copy: Path | None) -> str:
    shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)"
                                      if len(problems) > 3 else "")
    kept = [f"A copy was kept: {copy} (with its -wal file, if there was one)."] if copy else []
    return "\n".join([
        f"the job database {path} is damaged: {shown}",
        *kept,
        "To recover, stop every server using it, then either:",
        f"  - restore a backup made with 'latentgraph db backup': copy it to {path} and delete "
        f"{path}-wal and {path}-shm;",
        f"  - or salvage the readable jobs: latentgraph db salvage {path}.salvaged --db "
        f"{copy or path}, then move {path}.salvaged to {path} and delete {path}-wal and "
        f"{path}-shm;",
        "  - or start with an empty job store (queue and history are lost; the copy stays): "
        "add --start-empty-if-damaged to 'latentgraph serve'.",
    ])


def open_store(path: Path, *, history_limit: int, start_empty_if_damaged: bool) -> JobStore:
    """The job store at ``path`` after an integrity check (see the module docstring)."""
    problems = check_store(path)
    if problems:
        try:
            copy: Path | None = keep_damaged_copy(path)
        except OSError as exc:
            logger.error("could not copy the damaged job database: %s", exc)
            copy = None
        if not start_empty_if_damaged or copy is None:
            raise DamagedStoreError(path, problems, copy)
        logger.error("the job database %s is damaged (%s); starting with an empty one, the "
                     "damaged one is kept as %s", path, problems[0], copy)
        set_aside(path)
    return JobStore(path, history_limit=history_limit)


def backup_store(source: Path, dest: Path) -> list[str]:
    """Copy the store at ``source`` to ``dest`` (a new file) with SQLite's backup API; returns
    the copy's integrity problems (``[]``: a good copy)."""
    if not source.exists():
        raise FileNotFoundError(f"no job database at {source}")
    if dest.exists():
        raise FileExistsError(f"{dest} exists; choose a new file name")
    src = sqlite3.connect(str(source), isolation_level=None)
    try:
        out = sqlite3.connect(str(dest))
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()
    return check_store(dest, full=True)


def salvage_store(source: Path, dest: Path) -> int:
    """Copy every readable job row of ``source`` into a new store at ``dest``; returns how many
    were copied. The queue counters are kept (or rebuilt from the rows)."""
    if not source.exists():
        raise FileNotFoundError(f"no job database at {source}")
    if dest.exists():
        raise FileExistsError(f"{dest} exists; choose a new file name")
    JobStore(dest).close()  # the schema
    # autocommit: a statement that hits a damaged page must not roll back the others
    db = sqlite3.connect(str(source), isolation_level=None)
    try:
        db.execute("ATTACH DATABASE ? AS rescued", (str(dest),))
        with salvaged(db) as table:
            db.execute("BEGIN")
            # by name: a file from before a column was added copies with its default
            names = ", ".join(d[0] for d in db.execute(f"SELECT * FROM {table} LIMIT 0")
                              .description)
            db.execute(f"INSERT INTO rescued.jobs ({names}) SELECT {names} FROM {table}")
            copied = int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            _salvage_meta(db)
            db.execute("COMMIT")
    finally:
        db.close()
    return copied


def _salvage_meta(db: sqlite3.Connection) -> None:
    try:
        rows = db.execute("SELECT key, value FROM main.meta").fetchall()
        db.executemany("INSERT OR REPLACE INTO rescued.meta VALUES (?, ?)", rows)
    except sqlite3.DatabaseError as exc:
        logger.warning("the queue counters are damaged (%s); rebuilding them from the jobs", exc)
    for key, column in (("counter", "CAST(MAX(ABS(number)) AS INTEGER) + 1"),
                        ("done", "MAX(done_seq)")):
        found = db.execute(f"SELECT {column} FROM rescued.jobs").fetchone()[0] or 0
        db.execute("INSERT INTO rescued.meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO "
                   "UPDATE SET value = MAX(CAST(value AS INTEGER), "
                   "CAST(excluded.value AS INTEGER))", (key, str(int(found))))
