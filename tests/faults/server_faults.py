"""Faults injected into the server's own process (a ``--node-pack`` that registers no nodes).

``LATENTGRAPH_FAULT_KILL_IN_FINISH=<prompt id>:<marker file>``: the server kills itself with
SIGKILL while it writes that job's end to the job database (after the UPDATE, before the
commit), once: the marker file says it has happened. The worker process imports every node
pack too; there this pack does nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

from nodes.api import Registry
from server.finished_job import FinishedJob
from server.job_store import JobStore

KILL_IN_FINISH = "LATENTGRAPH_FAULT_KILL_IN_FINISH"


def register(registry: Registry) -> None:
    spec = os.environ.get(KILL_IN_FINISH)
    if not spec or multiprocessing.parent_process() is not None:  # the worker: nothing
        return
    target, marker = spec.split(":", 1)
    finish = JobStore._finish

    def finish_then_die(store: JobStore, db: sqlite3.Connection, prompt_id: str,
                        result: FinishedJob) -> None:
        finish(store, db, prompt_id, result)
        if prompt_id == target and not Path(marker).exists():
            Path(marker).write_text(f"{os.getpid()}\n", encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)  # mid-transaction: nothing committed

    JobStore._finish = finish_then_die  # type: ignore[method-assign]
