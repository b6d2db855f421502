"""Which waiting job runs next, on which idle worker: the routing policies of a worker pool.

A pool (``executor.ray_backend``) holds several workers, each with its own model cache. Loading
a checkpoint costs seconds to minutes; running a job on a worker that already holds its models
costs nothing extra. A policy sees the head of the queue (``JobView``: the model files each job
names, ``executor.model_refs``) and the workers (``WorkerView``: the model files each holds, its
free memory, idle or not) and answers ``(job index, worker name)`` or ``None`` (wait).

- :class:`AffinityPolicy`: the first job in queue order that an idle worker already holds all
  models of goes to that worker (the same idea as Ray Serve's model multiplexing); else the
  head job goes to the idle worker where loading costs least (fewest missing files, then the
  most free memory); a job passed over ``max_bypass`` times goes first, so none starves.
- :class:`RoundRobinPolicy`: the head job to the next idle worker in turn (for comparison).

Policies are plain objects with no I/O: the benchmark's routing simulation runs them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

Assignment = tuple[int, str]
"""(index of the job in the window, name of the worker it runs on)."""


@dataclass(frozen=True)
class JobView:
    job_id: str
    models: frozenset[str] = frozenset()
    bypassed: int = 0  # how often a later job was started before this one


@dataclass(frozen=True)
class WorkerView:
    name: str
    models: tuple[str, ...] = ()  # file names it holds
    free_memory: int = 0
    idle: bool = True


class RoutingPolicy(Protocol):
    name: str

    def assign(self, jobs: Sequence[JobView], workers: Sequence[WorkerView]
               ) -> Assignment | None:
        """The next job to start and where, or ``None`` when it should wait."""
        ...


def missing(job: JobView, worker: WorkerView) -> int:
    """How many of the job's model files the worker would have to load."""
    return len(job.models.difference(worker.models))


@dataclass
class AffinityPolicy:
    """Model affinity with a bounded look-ahead (``window`` jobs) and no starvation."""

    window: int = 16
    max_bypass: int = 8
    name: str = "affinity"

    def assign(self, jobs: Sequence[JobView], workers: Sequence[WorkerView]
               ) -> Assignment | None:
        idle = [w for w in workers if w.idle]
        if not jobs or not idle:
            return None
        head = jobs[0]
        if head.bypassed < self.max_bypass:
            for index, job in enumerate(jobs[: self.window]):
                for worker in idle:
                    if job.models and missing(job, worker) == 0:
                        return index, worker.name
        best = min(idle, key=lambda w: (missing(head, w), -w.free_memory))
        return 0, best.name


@dataclass
class RoundRobinPolicy:
    """The head job to the next idle worker in turn, whatever it holds."""

    name: str = "round-robin"
    _turn: int = field(default=0, repr=False)

    def assign(self, jobs: Sequence[JobView], workers: Sequence[WorkerView]
               ) -> Assignment | None:
        if not jobs or not workers:
            return None
        for step in range(len(workers)):
            worker = workers[(self._turn + step) % len(workers)]
            if worker.idle:
                self._turn = (self._turn + step + 1) % len(workers)
                return 0, worker.name
        return None


POLICIES = {"affinity": AffinityPolicy, "round-robin": RoundRobinPolicy}


def make_policy(name: str) -> RoutingPolicy:
    try:
        return POLICIES[name]()  # type: ignore[no-any-return]
    except KeyError:
        raise ValueError(f"unknown routing policy {name!r}; choose one of {sorted(POLICIES)}"
                         ) from None
