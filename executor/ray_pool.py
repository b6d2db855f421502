"""The Ray workers of a pool: starting them, watching them, replacing the ones that leave.

One actor per GPU of the cluster (``num_gpus=1``), or ``workers`` CPU actors on a cluster
without GPUs. A monitor thread looks every ``monitor_s`` seconds: actors that became ready are
taken in, idle ones report their state (the model files they hold, their devices and free
memory), dead ones are dropped, and new ones are started up to the target, so a node that joins
or leaves the cluster is picked up without restarting the server. An actor whose engine cannot
be built (a node pack that does not import …) is started again after a growing pause.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray

from executor.ray_actor import EngineActor
from executor.ray_job import ACTOR_GONE
from executor.worker_child import WorkerBuild

logger = logging.getLogger(__name__)
STATE_TIMEOUT_S = 5.0
MAX_BACKOFF_S = 30.0
RemoteEngineActor: Any = ray.remote(EngineActor)


@dataclass
class Slot:
    """One actor as the pool sees it."""

    name: str
    actor: Any
    ready_ref: Any  # the first state() call: ready once it answers
    ready: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None  # reserved for, then running, this job
    cancel: threading.Event | None = None

    @property
    def idle(self) -> bool:
        return self.ready and self.job_id is None


class RayPool:
    """The actors; every method may be called from any thread."""

    def __init__(self, build: WorkerBuild, *, workers: int | None, cpus_per_worker: float,
                 monitor_s: float = 2.0, on_change: Callable[[], None] = lambda: None
                 ) -> None:
        self.build = build
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.monitor_s = monitor_s
        self.on_change = on_change
        self.lock = threading.RLock()
        self.slots: dict[str, Slot] = {}
        self.started = 0  # actors started, for tests and logs
        self._names = (f"worker-{n}" for n in itertools.count(1))
        self._failures = 0
        self._next_start = 0.0
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.reconcile()
        self._thread = threading.Thread(target=self._monitor, daemon=True, name="ray-pool")
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(STATE_TIMEOUT_S)
        with self.lock:
            slots, self.slots = list(self.slots.values()), {}
        for slot in slots:
            ray.kill(slot.actor, no_restart=True)

    def target(self) -> tuple[int, bool]:
        """(how many actors, on GPUs or not) the cluster should have now."""
        gpus = int(ray.cluster_resources().get("GPU", 0))  # type: ignore[no-untyped-call]
        if gpus > 0:
            return (min(gpus, self.workers) if self.workers else gpus), True
        return (self.workers or 1), False

    def _monitor(self) -> None:
        while not self._closing.wait(self.monitor_s):
            try:
                self.reconcile()
            except Exception:  # the monitor must outlive a flaky cluster
                logger.exception("watching the Ray workers failed")

    def reconcile(self) -> None:
        """Take in ready actors, refresh idle ones, drop dead ones, start missing ones."""
        changed = False
        with self.lock:
            slots = list(self.slots.values())
        for slot in slots:
            changed |= self._check(slot)
        count, gpu = self.target()
        with self.lock:
            missing = count - len(self.slots)
        if missing > 0 and time.monotonic() >= self._next_start and not self._closing.is_set():
            for _ in range(missing):
                self._start_actor(gpu)
        if changed:
            self.on_change()

    def _check(self, slot: Slot) -> bool:
        """True when the slot changed (ready, gone)."""
        if not slot.ready:
            done, _ = ray.wait([slot.ready_ref], timeout=0)
            if not done:
                return False
            return self._refresh(slot, slot.ready_ref)
        if slot.job_id is None:
            return self._refresh(slot, slot.actor.state.remote())
        return False

    def _refresh(self, slot: Slot, ref: Any) -> bool:
        try:
            state = ray.get(ref, timeout=STATE_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            return False
        except (*ACTOR_GONE, ray.exceptions.RayTaskError) as exc:  # dead, or cannot say
            self._failed(slot, exc)
            return True
        became_ready = not slot.ready
        slot.state, slot.ready = dict(state), True
        if became_ready:
            self._failures = 0
            logger.info("Ray worker %s ready (pid %s on %s)", slot.name, state.get("pid"),
                        state.get("host"))
        return became_ready

    def _failed(self, slot: Slot, exc: BaseException) -> None:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if not slot.ready:
            self._failures += 1
            delay = min(MAX_BACKOFF_S, 0.5 * 2 ** (self._failures - 1))
            self._next_start = time.monotonic() + delay
            logger.error("Ray worker %s could not start (%s); next try in %g s", slot.name,
                         reason, delay)
        else:
            logger.error("Ray worker %s is gone: %s", slot.name, reason)
        self.drop(slot.name, kill=True)  # one that cannot answer is not kept alive either

    def _start_actor(self, gpu: bool) -> None:
        name = next(self._names)
        options = RemoteEngineActor.options(
            num_cpus=self.cpus_per_worker, num_gpus=1 if gpu else 0, max_concurrency=8,
            max_restarts=0)
        actor = options.remote(self.build, name)
        with self.lock:
            self.slots[name] = Slot(name, actor, actor.state.remote())
            self.started += 1
        logger.info("Ray worker %s starting (%s)", name, "1 GPU" if gpu else
                    f"{self.cpus_per_worker:g} CPU")

    def drop(self, name: str, *, kill: bool = False) -> None:
        """Forget a worker (dead, or killed with ``kill``); the monitor starts another."""
        with self.lock:
            slot = self.slots.pop(name, None)
        if slot is not None and kill:
            ray.kill(slot.actor, no_restart=True)
        self.on_change()

    def ready_slots(self) -> list[Slot]:
        with self.lock:
            return [s for s in self.slots.values() if s.ready]

    def known_devices(self) -> list[dict[str, Any]]:
        """Every ready worker's devices as last reported, each naming its worker and host."""
        found = []
        for slot in sorted(self.ready_slots(), key=lambda s: s.name):
            for device in slot.state.get("devices") or []:
                found.append({**device, "worker": slot.name,
                              "host": slot.state.get("host", "")})
        return found
