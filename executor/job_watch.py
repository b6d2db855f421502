"""One job on one worker process, watched from the server: events, cancel, crash.

Events are passed to the sink in the order the worker made them, and the job's end (its
outcome, or the error that stopped it) only after all of them. A cancel is sent to the worker
(cooperative: the node sees it at its next ``ctx.check_cancelled``/progress report); if the job
has not ended ``grace`` seconds later, the worker is killed (the owner restarts it) and the job
ends interrupted. If the worker dies on its own, the job fails with ``WorkerCrashed`` naming the
exit status or signal and the node that was running, and the outcome's ``crash`` says so (the
queue uses it for its poison-job protection). With a ``memory_limit``, the worker's resident
memory is read every ``MEMORY_POLL_S`` seconds; a worker over it (a node that leaks, or one
that allocates far more than it should) is killed before the kernel's out-of-memory killer
picks a process, and the job fails the same way, saying so.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from typing import Any

from executor.errors import NodeFailure
from executor.events import (
    Event,
    EventSink,
    JobFailed,
    JobInterrupted,
    NodeFinished,
    NodeStarted,
)
from executor.jobs import JobOutcome, JobRequest, JobStatus
from executor.worker_handle import REAP_TIMEOUT_S, WorkerGoneError, WorkerHandle
from executor.worker_wire import (
    Message,
    event_from_wire,
    prompt_error_from_wire,
    request_to_wire,
)

logger = logging.getLogger(__name__)
POLL_S = 0.05  # how often a waiting job looks at its cancel event
MEMORY_POLL_S = 0.25  # how often the worker's resident memory is read (memory_limit)
CRASH_TYPE = "WorkerCrashed"


def crash_outcome(job_id: str, node: tuple[str, str] | None, executed: list[str],
                  message: str, sink: EventSink) -> JobOutcome:
    """A job whose worker died (``message`` says how): logged, ``JobFailed`` sent, and the
    failed outcome with ``crash`` set (poison-job protection counts it)."""
    logger.error("job %s: %s", job_id, message)
    node_id, node_type = node or (None, None)
    sink(JobFailed(job_id, node_id, node_type, CRASH_TYPE, message, (), {}, tuple(executed)))
    failure = NodeFailure(node_id or "", node_type or "", CRASH_TYPE, message, [], {})
    return JobOutcome(job_id, JobStatus.FAILED, executed=list(executed), failure=failure,
                      crash=message)
OOM_KILLER_HINT = " (as the kernel's out-of-memory killer does when memory runs out)"


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


class WorkerJobError(RuntimeError):
    """The worker failed a job outside any node (its traceback is in the worker's log)."""

    def __init__(self, remote_type: str, message: str, traceback: list[str]) -> None:
        super().__init__(f"{remote_type}: {message}")
        self.remote_type = remote_type
        self.remote_traceback = traceback


class RemoteJob:
    """What a job running elsewhere (a worker process, a Ray actor) tracks while its messages
    arrive: the node running now, the nodes executed, the events passed to ``sink``; and how
    its end messages and a kill after the cancel grace become an outcome."""

    def __init__(self, request: JobRequest, sink: EventSink, grace: float) -> None:
        self.request, self.sink, self.grace = request, sink, grace
        self.node: tuple[str, str] | None = None  # the node running now (id, type)
        self.executed: list[str] = []

    @property
    def job_id(self) -> str:
        return self.request.job_id

    def _forward(self, event: Event) -> None:
        if isinstance(event, NodeStarted):
            self.node = (event.node_id, event.node_type)
        elif isinstance(event, NodeFinished):
            self.executed.append(event.node_id)
            self.node = None
        self.sink(event)

    def _end(self, message: Message, who: str) -> JobOutcome | None:
        """The outcome an ``outcome`` message carries; raises what ``prompt_error`` and
        ``job_error`` report; None (logged) for any other kind from ``who``."""
        kind = message.get("kind")
        if kind == "outcome":
            return JobOutcome.from_dict(message["outcome"])
        if kind == "prompt_error":
            raise prompt_error_from_wire(message)
        if kind == "job_error":
            raise WorkerJobError(str(message.get("type")), str(message.get("message")),
                                 list(message.get("traceback") or []))
        logger.error("unknown message kind %r from %s; ignored", kind, who)
        return None

    def _where(self) -> str:
        return f" while node {self.node[0]} ({self.node[1]}) was running" if self.node else ""

    def _killed_after_cancel(self, replaced: str) -> JobOutcome:
        """The job interrupted: it did not stop within the grace and its worker (``replaced``
        says how it was replaced) was killed."""
        node_id, node_type = self.node or (None, None)
        self.sink(JobInterrupted(self.job_id, node_id, node_type, tuple(self.executed)))
        notes: dict[str, dict[str, Any]] = {}
        if node_id is not None:
            notes[node_id] = {"worker_killed": f"did not stop within {self.grace:g} s of the "
                                               f"cancel; {replaced}"}
        return JobOutcome(self.job_id, JobStatus.INTERRUPTED, executed=list(self.executed),
                          interrupted_at=node_id, notes=notes)


class JobWatch(RemoteJob):
    """Runs ``request`` on ``handle``; used once."""

    def __init__(self, handle: WorkerHandle, request: JobRequest, sink: EventSink,
                 cancel: threading.Event, grace: float, memory_limit: int | None = None
                 ) -> None:
        super().__init__(request, sink, grace)
        self.handle, self.cancel, self.memory_limit = handle, cancel, memory_limit
        self.over_limit: str | None = None  # why the worker was killed for its memory

    def run(self) -> JobOutcome:
        """The job's outcome; raises ``PromptError`` (the worker's re-validation),
        :class:`WorkerJobError`, or ``WorkerGoneError`` when the worker was gone before it
        could receive the job (which then has not run)."""
        if not self.handle.send({"kind": "run", "request": request_to_wire(self.request)}):
            raise WorkerGoneError(f"the worker process {self.handle.exit_description()} "
                                  "before it received the job")
        cancel_sent: float | None = None
        next_memory_check = time.monotonic()
        while True:
            if self.memory_limit is not None and time.monotonic() >= next_memory_check:
                next_memory_check = time.monotonic() + MEMORY_POLL_S
                self._check_memory(self.memory_limit)
            if cancel_sent is None and self.cancel.is_set():
                self.handle.send({"kind": "cancel", "job_id": self.job_id})
                cancel_sent = time.monotonic()
            elif cancel_sent is not None and time.monotonic() - cancel_sent > self.grace:
                return self._kill()
            try:
                message = self.handle.job_messages.get(timeout=POLL_S)
            except queue.Empty:
                continue
            outcome = self._take(message)
            if outcome is not None:
                return outcome

    def _take(self, message: Message) -> JobOutcome | None:
        kind = message.get("kind")
        if kind == "exited":
            return self._crashed()
        if message.get("job_id", self.job_id) != self.job_id and kind != "event":
            logger.warning("dropping a stale %s of job %s", kind, message.get("job_id"))
            return None
        if kind == "event":
            self._forward(event_from_wire(message))
            return None
        return self._end(message, "the worker")

    def _forward(self, event: Event) -> None:
        if event.job_id != self.job_id:
            logger.warning("dropping a stale %s of job %s", type(event).__name__, event.job_id)
            return
        super()._forward(event)

    def _check_memory(self, limit: int) -> None:
        used = self.handle.resident_bytes()
        if used is None or used <= limit or self.over_limit is not None:
            return
        self.over_limit = (f"it used {mib(used)} of memory, more than its limit of {mib(limit)} "
                           "(serve --worker-max-memory)")
        logger.error("job %s: the worker process %s %s%s; killing it", self.job_id,
                     self.handle.pid, self.over_limit, self._where())
        self.handle.kill()  # its exit arrives as the "exited" message: _crashed

    def _crashed(self) -> JobOutcome:
        exit_code = self.handle.process.exitcode
        if self.over_limit is not None:
            how = f"was killed: {self.over_limit}"
        else:
            hint = OOM_KILLER_HINT if exit_code == -signal.SIGKILL else ""
            how = f"{self.handle.exit_description()}{hint}"
        message = f"the worker process {how}{self._where()}; it was restarted"
        return crash_outcome(self.job_id, self.node, self.executed, message, self.sink)

    def _kill(self) -> JobOutcome:
        logger.warning("job %s did not stop within %.1f s of the cancel%s; killing the worker "
                       "process %s", self.job_id, self.grace, self._where(), self.handle.pid)
        self.handle.kill()
        self.handle.exited.wait(REAP_TIMEOUT_S)
        return self._killed_after_cancel("the worker process was restarted")
