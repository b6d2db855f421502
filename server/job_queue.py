"""The queue as the server sees it: the durable store behind one thread, the running jobs, waiters.

``JobQueue`` is the only façade routes use, for changes and reads alike. All store calls go
through one dedicated thread (SQLite stays off the event loop, and calls are serialised, so
every read is one consistent snapshot). Queue changes broadcast ``status`` with the count the
store returned in the same transaction. One job runs at a time on a single-worker backend;
a worker pool (``executor.backend.WorkerPool``) runs several, picked from the queue's head.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from executor.jobs import JobStatus
from executor.validate import ValidatedPrompt
from server.errors import ConflictError, NotFoundError, UnavailableError
from server.finished_job import FinishedJob
from server.job_store import TERMINAL_STATUSES, JobRecord, JobStore
from server.messages import JobMessages
from server.ws_hub import WebSocketHub

T = TypeVar("T")


@dataclass
class RunningJob:
    """A job the worker is running, and how to stop it."""

    record: JobRecord
    messages: JobMessages
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    for_shutdown: bool = False

    @property
    def prompt_id(self) -> str:
        return self.record.prompt_id

    def cancel(self) -> None:
        # The backend runs the job with this very event, so a cancel before it has started
        # the job is not lost.
        self.cancel_requested.set()


class JobQueue:
    """Submit, cancel, interrupt and read jobs; hands the next job to the worker."""

    def __init__(self, store: JobStore, hub: WebSocketHub) -> None:
        self.store = store
        self.hub = hub
        self.running_jobs: dict[str, RunningJob] = {}  # in the order they started
        self.validated: dict[str, ValidatedPrompt] = {}
        self.accepting = True
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="job-store")
        self._wake = asyncio.Event()
        self._waiters: dict[str, list[asyncio.Future[JobStatus]]] = {}
        self._doomed: set[str] = set()

    @property
    def running(self) -> RunningJob | None:
        """The job that started first of those running (the only one, without a pool)."""
        return next(iter(self.running_jobs.values()), None)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()

    def broadcast_status(self, remaining: int) -> None:
        self.hub.broadcast("status", {"status": {"exec_info": {"queue_remaining": remaining}}})

    # -- changes --------------------------------------------------------------------------
    async def submit(self, record: JobRecord, validated: ValidatedPrompt | None, *,
                     number: float | None = None, front: bool = False) -> float:
        if not self.accepting:
            raise UnavailableError("shutting_down", "The server is shutting down")
        if validated is not None:
            self.validated[record.prompt_id] = validated
        try:
            priority, remaining = await self.call(self.store.add, record, number=number,
                                                  front=front)
        except BaseException:
            self.validated.pop(record.prompt_id, None)
            raise
        self.broadcast_status(remaining)
        self._wake.set()
        return priority

    async def next_job(self) -> RunningJob | None:
        """Wait for and claim the next pending job; ``None`` once the queue is closing."""
        while self.accepting:
            self._wake.clear()
            record, remaining = await self.call(self.store.claim_next)
            if record is not None and not self.accepting:  # closing: leave it queued
                await self.call(self.store.requeue, record.prompt_id)
                return None
            if record is not None:
                return self._started(record, remaining)
            await self._wake.wait()
        return None

    def _started(self, record: JobRecord, remaining: int) -> RunningJob:
        running = RunningJob(record, JobMessages(record.prompt_id, record.client_id))
        self.running_jobs[record.prompt_id] = running
        if record.prompt_id in self._doomed:
            running.cancel()
        self.broadcast_status(remaining)
        return running

    async def pending_window(self, limit: int) -> list[JobRecord] | None:
        """The first ``limit`` pending jobs, waiting while there are none; ``None`` once the
        queue is closing."""
        while self.accepting:
            self._wake.clear()
            records = await self.call(self.store.pending, limit)
            if records:
                return records
            await self._wake.wait()
        return None

    async def wait_for_change(self, timeout: float) -> None:
        """Until a job is queued or re-queued (or ``timeout``)."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def claim(self, prompt_id: str) -> RunningJob | None:
        """Claim the pending job ``prompt_id``; ``None`` if it is no longer pending or the
        queue is closing."""
        if not self.accepting:
            return None
        record, remaining = await self.call(self.store.claim_next, prompt_id)
        if record is None:
            return None
        if not self.accepting:
            await self.call(self.store.requeue, record.prompt_id)
            return None
        return self._started(record, remaining)

    def close_queue(self) -> None:
        """Stop handing out jobs (shutdown); a waiting worker wakes and ends."""
        self.accepting = False
        self._wake.set()

    async def finish(self, running: RunningJob, result: FinishedJob) -> int:
        """Write the history entry (queue → history in one transaction); returns the count."""
        prompt_id = running.prompt_id
        try:
            remaining = await self.call(self.store.finish, prompt_id, result)
        finally:
            self._forget(prompt_id)
        self._resolve(prompt_id, result.status)
        return remaining

    async def crashed(self, running: RunningJob, result: FinishedJob, *, requeue: bool
                      ) -> tuple[bool, int]:
        """The process running the job died: re-queue it once (``requeue``) or write its
        history entry (the crash is counted in the store, across restarts)."""
        prompt_id = running.prompt_id
        try:
            requeued, remaining = await self.call(self.store.record_crash, prompt_id, result,
                                                  requeue=requeue)
        finally:
            self._forget(prompt_id)
        if requeued:
            self._wake.set()
        else:
            self._resolve(prompt_id, result.status)
        return requeued, remaining

    async def requeue(self, running: RunningJob) -> int:
        try:
            return await self.call(self.store.requeue, running.prompt_id)
        finally:
            self._forget(running.prompt_id)

    def _forget(self, prompt_id: str) -> None:
        self.running_jobs.pop(prompt_id, None)
        self.validated.pop(prompt_id, None)
        self._doomed.discard(prompt_id)

    async def delete_pending(self, prompt_ids: list[str] | None) -> list[str]:
        cancelled, remaining = await self.call(self.store.cancel_pending, prompt_ids)
        for prompt_id in cancelled:
            self.validated.pop(prompt_id, None)
            self._resolve(prompt_id, JobStatus.CANCELLED)
        if cancelled:
            self.broadcast_status(remaining)
        return cancelled

    async def cancel(self, prompt_id: str) -> str:
        """Cancel one job by id, pending or running, touching no other job."""
        if await self.delete_pending([prompt_id]):
            return "cancelled"
        running = self.running_jobs.get(prompt_id)
        if running is not None:
            running.cancel()
            return "cancelling"
        record = await self.call(self.store.get, prompt_id)
        if record is None:
            raise NotFoundError("job_not_found", "No job with this id", prompt_id)
        if record.status is JobStatus.RUNNING:  # claimed, not yet taken in by the worker
            self._doomed.add(prompt_id)
            running = self.running_jobs.get(prompt_id)
            if running is not None:
                running.cancel()
            return "cancelling"
        raise ConflictError("job_finished", "The job has already finished",
                            f"{prompt_id} is {record.status.value}",
                            {"status": record.status.value})

    def interrupt(self, prompt_id: str | None) -> bool:
        """Stop the running job ``prompt_id``, or every running job when ``None``."""
        targets = list(self.running_jobs.values()) if prompt_id is None else \
            [r for r in (self.running_jobs.get(prompt_id),) if r is not None]
        for running in targets:
            running.cancel()
        return bool(targets)

    async def delete_history(self, prompt_ids: list[str] | None) -> int:
        """Forget finished jobs (all when ``None``)."""
        return await self.call(self.store.delete_history, prompt_ids)

    # -- reading --------------------------------------------------------------------------
    async def boot(self, on_crash: str) -> tuple[str, int, list[str]]:
        """Start-up: (instance id, epoch, ids of the jobs a crash or kill left running)."""
        return await self.call(self.store.boot, on_crash)

    async def remaining(self) -> int:
        return await self.call(self.store.remaining)

    async def get(self, prompt_id: str) -> JobRecord | None:
        return await self.call(self.store.get, prompt_id)

    async def snapshot(self) -> tuple[list[JobRecord], list[JobRecord]]:
        """(running, pending), in the order they run."""
        return await self.call(self.store.queue)

    async def history(self, max_items: int | None = None, offset: int | None = None
                      ) -> list[JobRecord]:
        return await self.call(self.store.history, max_items, offset)

    async def list_jobs(self, statuses: Sequence[JobStatus], *, workflow_id: str | None,
                        sort_by: str, descending: bool, limit: int | None, offset: int
                        ) -> tuple[list[JobRecord], int]:
        """A page of jobs whose status is in ``statuses``, and the total."""
        return await self.call(self.store.list_jobs, statuses, workflow_id=workflow_id,
                               sort_by=sort_by, descending=descending, limit=limit,
                               offset=offset)

    # -- waiting --------------------------------------------------------------------------
    async def wait(self, prompt_id: str, timeout: float) -> JobStatus | None:
        """The job's final status, or ``None`` if it does not end within ``timeout``."""
        future: asyncio.Future[JobStatus] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(prompt_id, []).append(future)
        record = await self.call(self.store.get, prompt_id)
        if record is not None and record.status in TERMINAL_STATUSES:
            self._resolve(prompt_id, record.status)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(prompt_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(prompt_id, None)

    def _resolve(self, prompt_id: str, status: JobStatus) -> None:
        for future in self._waiters.pop(prompt_id, []):
            if not future.done():
                future.set_result(status)
