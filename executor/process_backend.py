"""The supervised :class:`~executor.backend.ExecutionBackend`: node code runs in a worker process.

One worker process (``spawn``) holds the engine: registry, output cache and loaded models, which
stay loaded from job to job. The server's process keeps the HTTP side up whatever a node does:

- a worker that dies (``os._exit``, a signal, the kernel's OOM killer) fails the running job
  with the exit status or signal and the node (``executor.job_watch``) and is started again
  (``executor.worker_supervisor``);
- a cancel is cooperative first; a job still running ``cancel_grace_s`` later is stopped by
  killing the worker, which is started again.

Validation happens in the server's process with the registry the server holds anyway for
``/object_info`` (``executor.prompt_validator``), against the memory the worker's devices
reported, so ``POST /prompt`` answers while the worker is busy, hung or restarting. The worker
validates each job again with its own registry before running it (``validated`` is not sent:
node classes do not cross the pipe).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

from executor.events import Event, EventSink, JobInterrupted
from executor.job_watch import JobWatch
from executor.jobs import JobOutcome, JobRequest, JobStatus
from executor.prompt_validator import PromptValidator
from executor.validate import ValidatedPrompt
from executor.worker_handle import REAP_TIMEOUT_S, WorkerGoneError
from executor.worker_supervisor import WorkerSupervisor

logger = logging.getLogger(__name__)
DEVICES_TIMEOUT_S = 5.0


def _discard(event: Event) -> None:
    return None


class ProcessBackend:
    """Runs jobs one at a time on the supervisor's worker; validates with ``validator``."""

    def __init__(self, supervisor: WorkerSupervisor, validator: PromptValidator, *,
                 cancel_grace_s: float = 10.0) -> None:
        self.supervisor = supervisor
        self.validator = validator
        self.cancel_grace_s = cancel_grace_s
        self._job_lock = threading.Lock()
        self._running: tuple[str, threading.Event] | None = None

    def stop_restarting(self) -> None:
        self.supervisor.stop_restarting()

    def close(self) -> None:
        self.supervisor.close()

    def validate(self, prompt: Mapping[str, Any], *, targets: Sequence[str] | None = None,
                 strict: bool = False) -> ValidatedPrompt:
        return self.validator.validate(prompt, targets=targets, strict=strict)

    def execute(self, request: JobRequest, sink: EventSink | None = None,
                cancel_event: threading.Event | None = None) -> JobOutcome:
        """Run one job to its end on the worker (blocking)."""
        cancel = cancel_event if cancel_event is not None else threading.Event()
        with self._job_lock:
            self._running = (request.job_id, cancel)
            try:
                return self._watch(request, sink or _discard, cancel)
            finally:
                self._running = None

    def _watch(self, request: JobRequest, sink: EventSink, cancel: threading.Event
               ) -> JobOutcome:
        handle = self.supervisor.ready_worker(cancel=cancel)
        if handle is not None:
            try:
                return JobWatch(handle, request, sink, cancel, self.cancel_grace_s).run()
            except WorkerGoneError:  # it died between jobs: the job never reached it
                logger.warning("job %s goes to the next worker process", request.job_id)
                handle.exited.wait(REAP_TIMEOUT_S)
            handle = self.supervisor.ready_worker(cancel=cancel)
        if handle is None:  # cancelled while waiting for a worker: nothing ran
            sink(JobInterrupted(request.job_id, None, None, ()))
            return JobOutcome(request.job_id, JobStatus.INTERRUPTED)
        return JobWatch(handle, request, sink, cancel, self.cancel_grace_s).run()

    async def execute_async(self, request: JobRequest, sink: EventSink | None = None,
                            validated: ValidatedPrompt | None = None,
                            cancel_event: threading.Event | None = None) -> JobOutcome:
        """``validated`` is not sent: the worker validates the job with its own registry."""
        return await asyncio.to_thread(self.execute, request, sink, cancel_event)

    def cancel(self, job_id: str) -> bool:
        running = self._running
        if running is None or running[0] != job_id:
            return False
        running[1].set()
        return True

    def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        """Sent to the worker (between jobs; a worker being restarted has nothing to free)."""
        handle = self.supervisor.current
        if handle is not None and handle.usable:
            handle.send({"kind": "free", "unload_models": unload_models,
                         "free_memory": free_memory})

    def devices(self) -> list[dict[str, Any]]:
        """Asked of the worker; the last known list while it is busy or restarting."""
        handle = self.supervisor.current
        if handle is not None and handle.usable:
            try:
                handle.devices = list(handle.request({"kind": "devices"}, DEVICES_TIMEOUT_S))
            except (WorkerGoneError, FutureTimeoutError, TimeoutError):
                logger.warning("the worker did not describe its devices; using the last list")
        return self.supervisor.known_devices()
