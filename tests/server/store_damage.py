"""Making job databases with damage in them, for the integrity tests."""

from __future__ import annotations

import os
import random
from pathlib import Path

from executor.jobs import JobOutcome, JobStatus
from server.finished_job import FinishedJob
from server.job_store import JobRecord, JobStore

PAGE = 4096


def marked_record(index: int) -> JobRecord:
    """A job whose prompt holds a findable marker (small: one row per page slot)."""
    return JobRecord(prompt_id=f"job-{index:03d}", number=0, status=JobStatus.PENDING,
                     prompt={"1": {"class_type": "Show", "inputs": {"label": f"MARK-{index:03d}-"
                                                                             + "x" * 300}}},
                     extra_data={}, outputs_to_execute=["1"])


def store_with_jobs(path: Path, count: int = 60, finished: int = 40) -> None:
    """``count`` jobs, the first ``finished`` of them in the history; closed cleanly."""
    store = JobStore(path)
    for i in range(count):
        store.add(marked_record(i))
    for _ in range(finished):
        claimed, _ = store.claim_next()
        assert claimed is not None
        store.finish(claimed.prompt_id, FinishedJob(JobOutcome(claimed.prompt_id)))
    store.close()


def damage_page_of(path: Path, index: int) -> set[int]:
    """Overwrite, with garbage, every page holding job ``index``'s marker (its row, and any
    stale copy of it); returns the pages."""
    data = bytearray(path.read_bytes())
    marker = f"MARK-{index:03d}-".encode()
    pages, offset = set(), data.find(marker)
    while offset != -1:
        pages.add(offset // PAGE)
        offset = data.find(marker, offset + 1)
    assert pages and 0 not in pages, "the row must not be on the first page"
    for page in pages:
        data[page * PAGE:(page + 1) * PAGE] = random.Random(index).randbytes(PAGE)
    path.write_bytes(bytes(data))
    return pages


def not_a_database(path: Path) -> None:
    path.write_bytes(os.urandom(3 * PAGE))
