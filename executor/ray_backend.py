"""The Ray :class:`~executor.backend.ExecutionBackend`: jobs run on a pool of Ray actors.

The server keeps what it always had (HTTP/WS, the SQLite queue and history: the single source
of truth); each job goes to one actor of ``executor.ray_pool``, which runs our ``Engine`` as the
worker process does (``executor.ray_actor``) and streams the same wire messages back
(``executor.ray_job``). As a :class:`~executor.backend.WorkerPool` it tells the server's worker
task which queued job to start next and where (``executor.routing``: model affinity by
default). Prompts are validated in the server's process (``executor.prompt_validator``).

Inputs reach the actors by content hash: before a job runs, the files of the input folder its
prompt names are hashed and only those the actor lacks (or holds with other content) are sent.

This is the only module, with those three, that imports Ray; ``latentgraph serve`` imports it
only for ``--backend ray``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from executor.events import EventSink, JobInterrupted
from executor.jobs import JobOutcome, JobRequest, JobStatus
from executor.model_refs import model_names
from executor.prompt_validator import PromptValidator
from executor.ray_actor import inside
from executor.ray_job import ACTOR_GONE, RayJob
from executor.ray_pool import STATE_TIMEOUT_S, RayPool, Slot
from executor.routing import Assignment, JobView, RoutingPolicy, WorkerView, make_policy
from executor.validate import ValidatedPrompt

logger = logging.getLogger(__name__)
WAIT_S = 0.5


@dataclass(frozen=True)
class RayConfig:
    """How to reach (or start) Ray and what to run on it."""

    address: str | None = None  # None: start an embedded local instance
    workers: int | None = None  # None: one per GPU (1 on a cluster without GPUs)
    cpus_per_worker: float = 1.0
    num_cpus: int | None = None  # the embedded instance's CPUs (None: Ray counts them)
    object_store_bytes: int = 200 * 2**20
    policy: str = "affinity"
    cancel_grace_s: float = 10.0
    monitor_s: float = 2.0


def start_ray(config: RayConfig) -> bool:
    """Connect to ``config.address`` or start a small embedded instance; ``False`` when Ray
    was already initialised in this process (then it is not ours to shut down)."""
    if ray.is_initialized():
        return False
    root = str(Path(__file__).resolve().parents[1])  # actors import our packages from here
    paths = [root, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}
    if config.address:
        ray.init(address=config.address, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(num_cpus=config.num_cpus, object_store_memory=config.object_store_bytes,
                 include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
    return True


class RayBackend:
    """Runs each job on one actor of ``pool``; validates with ``validator``."""

    def __init__(self, pool: RayPool, validator: PromptValidator, *,
                 policy: RoutingPolicy | None = None, cancel_grace_s: float = 10.0,
                 input_dir: Path | None = None, output_dir: Path | None = None,
                 owns_ray: bool = False, window: int = 16) -> None:
        self.pool = pool
        self.validator = validator
        self.policy = policy or make_policy("affinity")
        self.cancel_grace_s = cancel_grace_s
        self.input_dir, self.output_dir = input_dir, output_dir
        self.owns_ray = owns_ray
        self.window = window
        self.changed = threading.Event()
        self.assignments = 0
        self._digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) → sha256
        pool.on_change = self.changed.set

    def close(self) -> None:
        self.pool.close()
        if self.owns_ray:
            ray.shutdown()

    def stop_restarting(self) -> None:
        """Nothing to do: an actor that ends while the server stops is simply not used."""

    # -- routing ---------------------------------------------------------------------------
    def workers(self) -> list[WorkerView]:
        return [WorkerView(s.name, tuple(s.state.get("models") or ()),
                           int(s.state.get("free_memory") or 0), s.idle)
                for s in self.pool.ready_slots()]

    def assign(self, jobs: Sequence[JobView]) -> Assignment | None:
        with self.pool.lock:
            self.changed.clear()
            choice = self.policy.assign(jobs, self.workers())
            if choice is None:
                return None
            slot = self.pool.slots.get(choice[1])
            if slot is None or not slot.idle:
                raise RuntimeError(f"routing policy {self.policy.name!r} chose worker "
                                   f"{choice[1]!r}, which is not idle")
            slot.job_id, slot.cancel = jobs[choice[0]].job_id, None
            self.assignments += 1
            return choice

    def release(self, job_id: str) -> None:
        slot = self._slot_of(job_id)
        if slot is not None:
            self._free_slot(slot)

    def _slot_of(self, job_id: str) -> Slot | None:
        with self.pool.lock:
            return next((s for s in self.pool.slots.values() if s.job_id == job_id), None)

    def _free_slot(self, slot: Slot) -> None:
        with self.pool.lock:
            slot.job_id, slot.cancel = None, None
        self.changed.set()

    def _reserve(self, request: JobRequest, cancel: threading.Event) -> Slot | None:
        """The slot reserved for the job, or one assigned now (waiting while none is
        idle); ``None`` once ``cancel`` is set."""
        job = JobView(request.job_id, model_names(request.prompt))
        while not cancel.is_set():
            slot = self._slot_of(request.job_id)
            if slot is None and self.assign([job]) is not None:
                slot = self._slot_of(request.job_id)
            if slot is not None:
                slot.cancel = cancel
                return slot
            self.changed.wait(WAIT_S)
        return None

    # -- the backend protocol --------------------------------------------------------------
    def validate(self, prompt: Mapping[str, Any], *, targets: Sequence[str] | None = None,
                 strict: bool = False) -> ValidatedPrompt:
        return self.validator.validate(prompt, targets=targets, strict=strict)

    def execute(self, request: JobRequest, sink: EventSink | None = None,
                cancel_event: threading.Event | None = None) -> JobOutcome:
        """Run one job to its end on an actor (blocking). A job whose actor is found dead
        before the job reached it goes to another actor and counts no crash."""
        cancel = cancel_event if cancel_event is not None else threading.Event()
        out = sink or (lambda event: None)
        while (slot := self._reserve(request, cancel)) is not None:
            try:
                self._send_inputs(slot, request)
            except ACTOR_GONE:  # it died between jobs: the job never reached it
                logger.warning("job %s goes to another Ray worker: %s is gone",
                               request.job_id, slot.name)
                self.pool.drop(slot.name, kill=True)
                self._free_slot(slot)
                continue
            try:
                return self._run_on(slot, request, out, cancel)
            finally:
                self._after(slot)
        out(JobInterrupted(request.job_id, None, None, ()))  # cancelled while waiting
        return JobOutcome(request.job_id, JobStatus.INTERRUPTED)

    def _run_on(self, slot: Slot, request: JobRequest, sink: EventSink,
                cancel: threading.Event) -> JobOutcome:
        job = RayJob(slot.actor, slot.name, request, sink, cancel, self.cancel_grace_s,
                     self.output_dir, lambda: self.pool.drop(slot.name, kill=True))
        outcome = job.run()
        if outcome.crash is not None:
            self.pool.drop(slot.name, kill=True)
        return outcome

    def _after(self, slot: Slot) -> None:
        """Refresh what the actor holds, then free it for the next job."""
        if slot.name in self.pool.slots:
            try:
                slot.state = dict(ray.get(slot.actor.state.remote(), timeout=STATE_TIMEOUT_S))
            except (*ACTOR_GONE, ray.exceptions.GetTimeoutError):
                logger.warning("Ray worker %s did not report its state", slot.name)
        self._free_slot(slot)

    async def execute_async(self, request: JobRequest, sink: EventSink | None = None,
                            validated: ValidatedPrompt | None = None,
                            cancel_event: threading.Event | None = None) -> JobOutcome:
        """``validated`` is not sent: the actor validates the job with its own registry."""
        return await asyncio.to_thread(self.execute, request, sink, cancel_event)

    def cancel(self, job_id: str) -> bool:
        slot = self._slot_of(job_id)
        if slot is None or slot.cancel is None:
            return False
        slot.cancel.set()  # the job's watcher sends it to the actor
        return True

    def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        """Sent to every idle actor (a busy one keeps what its job uses)."""
        for slot in self.pool.ready_slots():
            if slot.idle:
                slot.actor.free.remote(unload_models, free_memory)

    def devices(self) -> list[dict[str, Any]]:
        """Every worker's devices, each entry naming its worker and host."""
        self.pool.reconcile()
        return self.known_devices()

    def known_devices(self) -> list[dict[str, Any]]:
        return self.pool.known_devices()

    # -- inputs by content hash ------------------------------------------------------------
    def _send_inputs(self, slot: Slot, request: JobRequest) -> None:
        """The prompt's input files the actor lacks; asked even when there are none, so an
        actor that died since its last job is found before the job is sent."""
        manifest = self._input_manifest(request.prompt)
        missing = ray.get(slot.actor.missing_inputs.remote(manifest))
        for name in missing:
            path = inside(self.input_dir, name) if self.input_dir is not None else None
            if path is not None:
                ray.get(slot.actor.put_input.remote(name, path.read_bytes()))
                logger.info("input %s sent to Ray worker %s", name, slot.name)

    def _input_manifest(self, prompt: Mapping[str, Any]) -> dict[str, str]:
        """{name: sha256} of the input-folder files the prompt's literal inputs name."""
        if self.input_dir is None:
            return {}
        manifest: dict[str, str] = {}
        for node in prompt.values():
            inputs = node.get("inputs") if isinstance(node, Mapping) else None
            for value in (inputs or {}).values():
                if isinstance(value, str) and value and "\n" not in value and len(value) < 512:
                    path = inside(self.input_dir, value.removesuffix(" [input]"))
                    if path is not None and path.is_file():
                        manifest[value.removesuffix(" [input]")] = self._digest(path)
        return manifest

    def _digest(self, path: Path) -> str:
        """sha256 of a file, remembered per (path, size, mtime)."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._digests[key]


def wait_for_workers(backend: RayBackend, count: int, timeout: float) -> int:
    """Wait until ``count`` workers are ready (tests, start-up logs); returns how many are."""
    deadline = time.monotonic() + timeout
    while True:
        backend.pool.reconcile()
        ready = len(backend.pool.ready_slots())
        if ready >= count or time.monotonic() > deadline:
            return ready
        time.sleep(0.1)
