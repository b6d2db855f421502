"""The worker task: runs queued jobs one at a time and records how each ended.

Per job: claim it (``status``), run it on the execution backend with a sink that posts
events back to the loop, then write the history entry *before* the terminal message, the
``status`` showing the new count, and ``executing {node: null}`` — so a client that reacts to
any of those finds the entry. On shutdown the running job is interrupted and put back in the
queue at its old place. A job whose outcome reports a crash (the worker process died under it)
is failed, or re-queued once when ``requeue_crashed``; the store counts its crashes, so a job
that crashed twice is never run again (a restart of the server included).

Over a worker pool (``executor.backend.WorkerPool``, e.g. Ray actors) several jobs run at once:
the pool's routing policy picks, from the head of the queue, which job starts next on which idle
worker (a job passed over is counted, so the policy can put it first in time).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import traceback
from typing import Any

from executor.backend import ExecutionBackend, WorkerPool
from executor.errors import PromptError
from executor.events import Event, JobFailed, NodeProgress
from executor.jobs import JobOutcome, JobRequest, JobStatus
from executor.model_refs import model_names
from executor.routing import JobView
from server.finished_job import FinishedJob
from server.job_queue import JobQueue, RunningJob
from server.previews import PreviewSettings
from server.redact import NO_REDACTION, PathRedactor

logger = logging.getLogger(__name__)
RETRY_S = 5.0
POOL_WAIT_S = 0.5  # how often a pool with no idle worker is asked again, at most


class Worker:
    """Pulls jobs from the queue and runs them on the execution backend."""

    def __init__(self, queue: JobQueue, backend: ExecutionBackend,
                 previews: PreviewSettings, redactor: PathRedactor = NO_REDACTION, *,
                 requeue_crashed: bool = False) -> None:
        self.queue = queue
        self.backend = backend
        self.previews = previews
        self.redactor = redactor
        self.requeue_crashed = requeue_crashed  # once; a second crash fails the job
        self.free_flags: dict[str, bool] = {}
        self.stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._bypassed: dict[str, int] = {}

    async def run(self) -> None:
        if isinstance(self.backend, WorkerPool):
            await self._run_pool(self.backend)
            return
        while not self.stopping:
            try:
                running = await self.queue.next_job()
            except Exception:  # the job database failed: keep serving, try again later
                logger.exception("cannot take the next job; retrying in %.0f s", RETRY_S)
                await asyncio.sleep(RETRY_S)
                continue
            if running is None:
                return
            try:
                await self._run(running)
            except Exception:  # the worker must outlive any one job
                logger.exception("worker failed on job %s", running.prompt_id)
            self.apply_free()

    async def _run_pool(self, pool: WorkerPool) -> None:
        """Start jobs as the pool's policy picks them, each in a task of its own."""
        try:
            while not self.stopping:
                try:
                    started = await self._start_next(pool)
                except Exception:  # the job database failed: keep serving, try again later
                    logger.exception("cannot take the next job; retrying in %.0f s", RETRY_S)
                    await asyncio.sleep(RETRY_S)
                    continue
                if started is None:
                    return
                if not started:
                    await self._wait_for_change(pool)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _start_next(self, pool: WorkerPool) -> bool | None:
        """Start one job: ``True``; nothing to start now: ``False``; closing: ``None``."""
        records = await self.queue.pending_window(pool.window)
        if records is None:
            return None
        jobs = [JobView(r.prompt_id, model_names(r.prompt), self._bypassed.get(r.prompt_id, 0))
                for r in records]
        # only jobs at the head are passed over: forget those that left it (cancelled …)
        self._bypassed = {j.job_id: j.bypassed for j in jobs if j.bypassed}
        choice = pool.assign(jobs)
        if choice is None:
            return False
        index, _ = choice
        for job in jobs[:index]:
            self._bypassed[job.job_id] = job.bypassed + 1
        self._bypassed.pop(jobs[index].job_id, None)
        running = await self.queue.claim(jobs[index].job_id)
        if running is None:  # cancelled meanwhile, or closing
            pool.release(jobs[index].job_id)
            return True if self.queue.accepting else None
        task = asyncio.get_running_loop().create_task(self._run_one(running),
                                                      name=f"job-{running.prompt_id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run_one(self, running: RunningJob) -> None:
        try:
            await self._run(running)
        except Exception:  # the worker must outlive any one job
            logger.exception("worker failed on job %s", running.prompt_id)
        if not self.queue.running_jobs:
            self.apply_free()

    async def _wait_for_change(self, pool: WorkerPool) -> None:
        """Until a worker is free (or joined) or a job is queued."""
        queued = asyncio.ensure_future(self.queue.wait_for_change(POOL_WAIT_S))
        freed = asyncio.ensure_future(asyncio.to_thread(pool.changed.wait, POOL_WAIT_S))
        await asyncio.wait({queued, freed}, return_when=asyncio.FIRST_COMPLETED)
        queued.cancel()
        await asyncio.gather(queued, freed, return_exceptions=True)

    def _sink(self, running: RunningJob, loop: asyncio.AbstractEventLoop) -> Any:
        previews = self.previews.limiter(running.record.extra_data)

        def sink(event: Event) -> None:  # called on the job's worker thread
            if isinstance(event, NodeProgress):
                event = previews(event)
            loop.call_soon_threadsafe(self._publish, running, event)

        return sink

    def _publish(self, running: RunningJob, event: Event) -> None:
        if isinstance(event, JobFailed):  # clients never see the server's absolute paths
            event = dataclasses.replace(
                event, message=self.redactor.text(event.message),
                traceback=tuple(self.redactor.lines(event.traceback)))
        for message in running.messages.translate(event):
            self.queue.hub.publish(running.record.client_id, message)

    async def _run(self, running: RunningJob) -> None:
        record = running.record
        extra_pnginfo = record.extra_data.get("extra_pnginfo")
        request = JobRequest(
            record.prompt_id, record.prompt,
            tuple(record.targets) if record.targets is not None else None, record.strict,
            extra_pnginfo=extra_pnginfo if isinstance(extra_pnginfo, dict) else {},
        )
        sink = self._sink(running, asyncio.get_running_loop())
        try:
            outcome = await self.backend.execute_async(
                request, sink, self.queue.validated.get(record.prompt_id),
                cancel_event=running.cancel_requested)
            finished = _finished(running, outcome, self.redactor)
        except PromptError as exc:  # re-validation of a resumed job
            data = running.messages.failure("PromptError", self.redactor.text(str(exc)), [])
            failed = JobOutcome(record.prompt_id, JobStatus.FAILED, node_errors=exc.node_errors)
            finished = FinishedJob(failed, running.messages.history_messages, data)
        except Exception as exc:
            logger.exception("job %s failed outside any node", record.prompt_id)
            lines = self.redactor.lines(
                traceback.format_exception(type(exc), exc, exc.__traceback__))
            data = running.messages.failure(type(exc).__name__, self.redactor.text(str(exc)),
                                            lines)
            failed = JobOutcome(record.prompt_id, JobStatus.FAILED)
            finished = FinishedJob(failed, running.messages.history_messages, data)
        await self._record(running, finished)

    async def _record(self, running: RunningJob, finished: FinishedJob) -> None:
        if finished.status is JobStatus.INTERRUPTED and running.for_shutdown:
            self.queue.broadcast_status(await self.queue.requeue(running))
            logger.info("job %s put back in the queue for the next start", running.prompt_id)
            return
        if finished.outcome.crash is not None:
            requeued, remaining = await self.queue.crashed(running, finished,
                                                           requeue=self.requeue_crashed)
            if requeued:
                logger.warning("job %s crashed its worker; re-queued once", running.prompt_id)
                self.queue.broadcast_status(remaining)
                return
        else:
            remaining = await self.queue.finish(running, finished)
        hub, client_id = self.queue.hub, running.record.client_id
        if running.messages.terminal is not None:
            hub.publish(client_id, running.messages.terminal)
        self.queue.broadcast_status(remaining)
        hub.send(client_id, "executing", {"node": None, "prompt_id": running.prompt_id})

    def apply_free(self) -> None:
        """Apply ``POST /free`` flags (between jobs)."""
        flags, self.free_flags = self.free_flags, {}
        if flags:
            self.backend.free(unload_models=bool(flags.get("unload_models")),
                              free_memory=bool(flags.get("free_memory")))

    async def stop(self, task: asyncio.Task[None], grace: float) -> None:
        """Interrupt the running job (it goes back to the queue) and end the task."""
        self.stopping = True
        self.queue.close_queue()
        running_jobs = list(self.queue.running_jobs.values())
        for running in running_jobs:
            running.for_shutdown = True
            running.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace)
        for running in running_jobs if not done else ():
            logger.warning("job %s did not stop within %.0f s; it will count as lost",
                           running.prompt_id, grace)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _finished(running: RunningJob, outcome: JobOutcome, redactor: PathRedactor
              ) -> FinishedJob:
    """History's record of ``outcome``: the held terminal message's data is the error object."""
    error = None
    if outcome.status is JobStatus.FAILED:
        terminal = running.messages.terminal
        if terminal is not None:
            error = terminal.data
        elif outcome.failure is not None:
            error = redactor.value({"prompt_id": running.prompt_id,
                                    **outcome.failure.to_dict()})
    return FinishedJob(outcome, running.messages.history_messages, error)
