"""The execution backend seam: what the server needs from whatever runs its jobs.

``executor.engine.Engine`` is the local implementation (jobs run in this process); a
distributed backend implements the same protocol. The server depends on nothing else of the
executor's run-time machinery: not the output cache, not the model ports.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from executor.events import EventSink
from executor.jobs import JobOutcome, JobRequest
from executor.routing import Assignment, JobView
from executor.validate import ValidatedPrompt


class ExecutionBackend(Protocol):
    def validate(self, prompt: Mapping[str, Any], *, targets: Sequence[str] | None = None,
                 strict: bool = False) -> ValidatedPrompt:
        """Validate a prompt; raises ``executor.errors.PromptError`` when nothing can run."""
        ...

    async def execute_async(
        self, request: JobRequest, sink: EventSink | None = None,
        validated: ValidatedPrompt | None = None,
        cancel_event: threading.Event | None = None,
    ) -> JobOutcome:
        """Run one job to its end without blocking the event loop. Setting ``cancel_event``
        (at any time, even before the job starts) stops it at the next node boundary or
        progress report; events go to ``sink`` from a worker thread."""
        ...

    def cancel(self, job_id: str) -> bool:
        """Stop a running job by id (for callers that hold no cancel event)."""
        ...

    def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        """ComfyUI's ``POST /free``: drop cached outputs (``free_memory``) and idle model
        weights (either flag). Called between jobs."""
        ...

    def devices(self) -> list[dict[str, Any]]:
        """ComfyUI's ``/system_stats`` device entries."""
        ...


@runtime_checkable
class WorkerPool(Protocol):
    """A backend with several workers (``executor.ray_backend``): the server's worker task
    runs as many jobs at once as it has idle workers, in the order the pool's routing policy
    picks from the head of the queue (so a job can go to the worker holding its models)."""

    window: int
    """How many queued jobs (from the head) the policy looks at."""

    changed: threading.Event
    """Set whenever a worker becomes idle, joins or leaves (the task then asks again)."""

    def assign(self, jobs: Sequence[JobView]) -> Assignment | None:
        """The job to start next and its worker (reserved for it until ``execute_async``
        or :meth:`release`); ``None``: wait."""
        ...

    def release(self, job_id: str) -> None:
        """The reserved job will not run (cancelled meanwhile): free its worker."""
        ...
