"""``latentgraph db check|backup|salvage``: the job database's integrity.

``check`` runs SQLite's full ``integrity_check`` and counts the jobs (exit 0: sound, 1: damaged,
with what is wrong and how to recover). ``backup DEST`` copies the database with SQLite's online
backup API, a consistent copy even while a server is running, then checks the copy (exit 0: a
good copy, 1: the copy is damaged too). ``salvage DEST`` copies every job that can still be read
from a damaged database into a new one (exit 0). All take the server's ``--base-dir`` (the
database is ``BASE/jobs.db``) or ``--db FILE``; exit 2: no database, or DEST exists.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

DB_NAME = "jobs.db"


def add_db_parser(commands: Any) -> None:
    db = commands.add_parser("db", help="check or back up the job database")
    actions = db.add_subparsers(dest="db_command", required=True)
    check = actions.add_parser("check", help="check the job database's integrity")
    backup = actions.add_parser("backup", help="copy the job database (safe while serving)")
    backup.add_argument("dest", type=Path,
                        help="the new file (or a folder: jobs-<time>.db is made in it)")
    salvage = actions.add_parser("salvage", help="copy the readable jobs of a damaged job "
                                                 "database into a new one")
    salvage.add_argument("dest", type=Path, help="the new database file")
    for action in (check, backup, salvage):
        where = action.add_mutually_exclusive_group()
        where.add_argument("--base-dir", type=Path, default=Path.cwd(),
                           help="the server's base folder (default: current)")
        where.add_argument("--db", type=Path, default=None, help="the database file itself")


def _database(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db is not None else Path(args.base_dir) / DB_NAME


def _counts(path: Path) -> str:
    db = sqlite3.connect(str(path))
    try:
        rows = db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
    except sqlite3.DatabaseError:
        return "no jobs table"
    finally:
        db.close()
    return ", ".join(f"{count} {status}" for status, count in sorted(rows)) or "no jobs"


def check_command(args: argparse.Namespace) -> int:
    from server.store_integrity import check_store, recovery_advice

    path = _database(args)
    if not path.exists():
        print(f"error: no job database at {path}")
        return 2
    problems = check_store(path, full=True)
    if problems:
        print(recovery_advice(path, problems, None))
        return 1
    print(f"ok: {path} ({_counts(path)})")
    return 0


def backup_command(args: argparse.Namespace) -> int:
    import time

    from server.store_integrity import backup_store

    source, dest = _database(args), Path(args.dest)
    if dest.is_dir():
        dest = dest / f"jobs-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.db"
    try:
        problems = backup_store(source, dest)
    except (OSError, sqlite3.Error) as exc:
        print(f"error: {exc}")
        return 2
    if problems:
        print(f"the copy {dest} is damaged too (the database was): {'; '.join(problems[:3])}")
        return 1
    print(f"backed up {source} to {dest} ({_counts(dest)})")
    return 0


def salvage_command(args: argparse.Namespace) -> int:
    from server.store_integrity import salvage_store

    source, dest = _database(args), Path(args.dest)
    try:
        copied = salvage_store(source, dest)
    except (OSError, sqlite3.Error) as exc:
        print(f"error: {exc}")
        return 2
    print(f"salvaged {copied} jobs of {source} into {dest} ({_counts(dest)})")
    return 0


def db_command(args: argparse.Namespace) -> int:
    commands = {"check": check_command, "backup": backup_command, "salvage": salvage_command}
    return commands[args.db_command](args)
