"""Scale-out on Ray: throughput over more actors, and what model-affinity routing saves.

(a) Throughput: jobs of one node that sleeps ``--sleep-ms`` (simulated GPU work, checking for
    cancellation as a sampler does) on 1, 2 and 4 Ray actors of a small local Ray instance
    (the stub worker of tests/faults: no torch), ``--jobs`` jobs per run, dispatched as the
    server's worker task does (as many at once as there are actors; the backend's routing
    assigns each an idle actor). Ratios against 1 actor; ~linear is expected.
(b) Routing simulation (no Ray: the policies of ``executor.routing`` in a discrete-event
    simulation): 1,000 jobs over 8 checkpoints with Zipf popularity (s = 1.1), Poisson
    arrivals, 4 workers each holding 2 models (LRU), a job costing ``--run-s`` plus
    ``--load-s`` per model file its worker must load. Model loads and the mean wait (queued →
    started) under affinity vs round-robin.

Run: python benchmarks/ray_scale.py [--jobs 24] [--sleep-ms 500] [--actors 1 2 4]
"""

from __future__ import annotations

import argparse
import functools
import heapq
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from executor.jobs import JobRequest  # noqa: E402
from executor.routing import (  # noqa: E402
    JobView,
    RoutingPolicy,
    WorkerView,
    make_policy,
)

# -- (a) throughput on Ray --------------------------------------------------------------------


def sleep_prompt(ms: int, n: int) -> dict[str, object]:
    return {"1": {"class_type": "Sleep", "inputs": {"ms": ms, "n": n}},
            "2": {"class_type": "Shout", "inputs": {"value": ["1", 0]}}}


def throughput(actors: int, jobs: int, sleep_ms: int, base: Path) -> float:
    """Jobs per second over ``actors`` actors (started and ready before the clock starts)."""
    from executor.ray_backend import RayConfig, wait_for_workers
    from latentgraph.app import build_ray_backend
    from nodes.api import Folders
    from nodes.api.ports import UnwiredModelFiles
    from tests.faults.fault_pack import build_worker, fault_registry

    for sub in ("input", "output", "temp"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    folders = Folders(base / "input", base / "output", base / "temp")
    backend = build_ray_backend(functools.partial(build_worker, str(base)), fault_registry(),
                                folders, UnwiredModelFiles(), RayConfig(workers=actors))
    try:
        if wait_for_workers(backend, actors, 180.0) < actors:
            raise RuntimeError(f"{actors} actors were not ready within 180 s")
        requests = [JobRequest(f"job{n}", sleep_prompt(sleep_ms, n)) for n in range(jobs)]
        start = time.perf_counter()
        with ThreadPoolExecutor(actors) as pool:
            outcomes = list(pool.map(backend.execute, requests))
        elapsed = time.perf_counter() - start
        if not all(o.ok for o in outcomes):
            raise RuntimeError(f"jobs failed: {[o.failure for o in outcomes if not o.ok]}")
        return jobs / elapsed
    finally:
        backend.pool.close()


def run_throughput(args: argparse.Namespace) -> None:
    import ray

    from executor.ray_backend import RayConfig, start_ray

    start_ray(RayConfig(num_cpus=max(args.actors), object_store_bytes=200 * 2**20))
    print(f"(a) throughput: {args.jobs} jobs of {args.sleep_ms} ms sleep per run")
    rates: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for actors in args.actors:
                rates[actors] = throughput(actors, args.jobs, args.sleep_ms,
                                           Path(tmp) / f"a{actors}")
                ideal = actors * 1000 / args.sleep_ms
                print(f"  {actors} actor(s): {rates[actors]:6.2f} jobs/s  "
                      f"(x{rates[actors] / rates[args.actors[0]]:.2f} vs "
                      f"{args.actors[0]}; {rates[actors] / ideal:.0%} of the sleep-bound "
                      f"{ideal:.1f} jobs/s)")
    finally:
        ray.shutdown()


# -- (b) routing simulation -------------------------------------------------------------------


@dataclass
class SimWorker:
    name: str
    capacity: int
    models: list[str] = field(default_factory=list)  # LRU first
    busy_until: float = 0.0
    loads: int = 0

    def view(self, now: float) -> WorkerView:
        return WorkerView(self.name, tuple(self.models), 0, self.busy_until <= now)

    def take(self, models: frozenset[str]) -> int:
        """Load what is missing (evicting LRU); returns how many files were loaded."""
        loaded = 0
        for model in sorted(models):
            if model in self.models:
                self.models.remove(model)
            else:
                loaded += 1
            self.models.append(model)
        del self.models[: max(0, len(self.models) - self.capacity)]
        self.loads += loaded
        return loaded


def zipf_jobs(count: int, models: int, s: float, interval: float, seed: int
              ) -> list[tuple[float, str]]:
    """(arrival time, checkpoint) of ``count`` jobs: Zipf popularity, Poisson arrivals."""
    rng = random.Random(seed)
    names = [f"model{m}.safetensors" for m in range(models)]
    weights = [1 / (rank + 1) ** s for rank in range(models)]
    now, jobs = 0.0, []
    for _ in range(count):
        now += rng.expovariate(1 / interval)
        jobs.append((now, rng.choices(names, weights)[0]))
    return jobs


def simulate(policy: RoutingPolicy, jobs: list[tuple[float, str]], workers: int, held: int,
             run_s: float, load_s: float) -> tuple[int, float, float]:
    """(model loads, mean wait, makespan) of ``jobs`` under ``policy``."""
    pool = [SimWorker(f"w{n}", held) for n in range(workers)]
    by_name = {w.name: w for w in pool}
    queue: list[tuple[str, float, frozenset[str]]] = []  # (id, arrival, models)
    bypassed: dict[str, int] = {}
    events = [(t, n) for n, (t, _) in enumerate(jobs)]  # arrivals; completions added
    heapq.heapify(events)
    waits: list[float] = []
    now = 0.0
    while events:
        now, n = heapq.heappop(events)
        if n >= 0:
            queue.append((f"j{n}", jobs[n][0], frozenset({jobs[n][1]})))
        while queue:
            views = [JobView(j, m, bypassed.get(j, 0)) for j, _, m in queue[:16]]
            choice = policy.assign(views, [w.view(now) for w in pool])
            if choice is None:
                break
            index, name = choice
            for view in views[:index]:
                bypassed[view.job_id] = view.bypassed + 1
            job_id, arrival, models = queue.pop(index)
            worker = by_name[name]
            worker.busy_until = now + run_s + load_s * worker.take(models)
            waits.append(now - arrival)
            heapq.heappush(events, (worker.busy_until, -1))
    return sum(w.loads for w in pool), statistics.fmean(waits), now


def run_simulation(args: argparse.Namespace) -> None:
    for interval in args.interval:
        simulate_both(args, interval)


def simulate_both(args: argparse.Namespace, interval: float) -> None:
    jobs = zipf_jobs(1000, 8, 1.1, interval, seed=20)
    print(f"(b) routing simulation: 1000 jobs, 8 checkpoints (Zipf s=1.1), 4 workers x 2 "
          f"models, run {args.run_s:g} s + load {args.load_s:g} s, arrivals every "
          f"{interval:g} s on average")
    results = {}
    for name in ("round-robin", "affinity"):
        results[name] = simulate(make_policy(name), jobs, 4, 2, args.run_s, args.load_s)
        loads, wait, makespan = results[name]
        print(f"  {name:12s} model loads {loads:5d}  mean wait {wait:8.1f} s  "
              f"all done at {makespan:8.1f} s")
    rr, aff = results["round-robin"], results["affinity"]
    print(f"  affinity vs round-robin: loads x{aff[0] / rr[0]:.2f}, mean wait "
          f"x{aff[1] / rr[1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--sleep-ms", type=int, default=500)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--run-s", type=float, default=2.0)
    parser.add_argument("--load-s", type=float, default=8.0)
    parser.add_argument("--interval", type=float, nargs="+", default=[2.0, 1.2],
                        help="mean seconds between arrivals (one simulation each)")
    parser.add_argument("--skip-ray", action="store_true", help="only the simulation")
    args = parser.parse_args()
    run_simulation(args)
    if not args.skip_ray:
        run_throughput(args)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
