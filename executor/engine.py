"""The engine: validates prompts and runs jobs against a shared, content-addressed cache.

The local :class:`~executor.backend.ExecutionBackend`. A job runs in the calling thread
(``execute``) or in one worker thread off the event loop (``execute_async``): one thread hop per
job, never per node. Events go to the sink from that thread. The first failing node stops the
job; outputs of nodes that succeeded before it are cached, the failed node's never are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from executor.cache import OutputCache, make_cache
from executor.events import Event, EventSink
from executor.jobs import JobOutcome, JobRequest
from executor.plan import KeyHistory
from executor.run_env import RunEnv
from executor.run_loop import JobRun
from executor.schedule import DefaultOrdering, OrderingPolicy
from executor.validate import ValidatedPrompt, validate_prompt
from nodes.api import FingerprintContext, Folders, Ports, Registry

logger = logging.getLogger(__name__)


def _discard(event: Event) -> None:
    return None


class Engine:
    """Runs validated prompts; one instance serves every job of a process."""

    def __init__(
        self,
        registry: Registry,
        cache: OutputCache | None = None,
        *,
        ordering: OrderingPolicy | None = None,
        folders: Folders | None = None,
        ports: Ports | None = None,
    ) -> None:
        self.registry = registry
        self.cache: OutputCache = cache if cache is not None else make_cache("bytes")
        self.ports = ports or Ports()
        self.env = RunEnv(registry, self.cache, KeyHistory(), ordering or DefaultOrdering(),
                          folders, self.ports)
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @property
    def folders(self) -> Folders | None:
        return self.env.folders

    @property
    def history(self) -> KeyHistory:
        return self.env.history

    @property
    def ordering(self) -> OrderingPolicy:
        return self.env.ordering

    @ordering.setter
    def ordering(self, policy: OrderingPolicy) -> None:
        self.env = dataclasses.replace(self.env, ordering=policy)

    def fingerprint_context(self, node_id: str) -> FingerprintContext:
        return self.env.fingerprint_context(node_id)

    def validate(
        self,
        prompt: Mapping[str, Any],
        *,
        targets: Sequence[str] | None = None,
        strict: bool = False,
    ) -> ValidatedPrompt:
        """Validate a prompt; raises ``executor.errors.PromptError`` when nothing can run."""
        return validate_prompt(
            prompt, self.registry, targets=targets, strict=strict,
            fingerprint_context=self.env.fingerprint_context, memory=self.ports.memory(),
        )

    def cancel(self, job_id: str) -> bool:
        """Ask a running job to stop at the next node boundary or progress report."""
        with self._lock:
            event = self._cancels.get(job_id)
        if event is None:
            return False
        event.set()
        return True

    def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        """Drop cached outputs (``free_memory``) and idle model weights (either flag)."""
        if free_memory:
            self.cache.clear()
            logger.info("output cache cleared")
        if unload_models or free_memory:
            self.ports.models.unload_all()

    def devices(self) -> list[dict[str, Any]]:
        return self.ports.devices()

    def execute(
        self,
        request: JobRequest,
        sink: EventSink | None = None,
        validated: ValidatedPrompt | None = None,
        cancel_event: threading.Event | None = None,
    ) -> JobOutcome:
        """Run one job to its end in this thread.

        ``cancel_event`` lets a caller cancel before the job is registered (a queue that
        claimed the job but has not started it yet); ``cancel(job_id)`` sets the same event.
        """
        prompt = validated or self.validate(
            request.prompt, targets=request.targets, strict=request.strict
        )
        cancel_event = cancel_event if cancel_event is not None else threading.Event()
        with self._lock:
            if request.job_id in self._cancels:
                raise ValueError(f"job id {request.job_id!r} is already running")
            self._cancels[request.job_id] = cancel_event
        try:
            return JobRun(self.env, request, prompt, sink or _discard, cancel_event).run()
        finally:
            with self._lock:
                self._cancels.pop(request.job_id, None)

    async def execute_async(
        self,
        request: JobRequest,
        sink: EventSink | None = None,
        validated: ValidatedPrompt | None = None,
        cancel_event: threading.Event | None = None,
    ) -> JobOutcome:
        """Run one job in a worker thread without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, self.execute, request, sink, validated, cancel_event
        )
