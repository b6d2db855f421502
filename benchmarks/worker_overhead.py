"""What the supervised worker process costs: the warm demo job and the cold start, against the
engine in the server's process.

- Warm: the default workflow (docs/demo-workflow.json: the embedded model, 128×128, 20 steps),
  a new seed per job so the sampler and the decode run every time (the model stays loaded).
  In-process: ``Engine.execute``; worker: ``ProcessBackend.execute`` (request, events and
  previews across the pipe). Both behind the server's preview limiter, runs interleaved.
- Cold: ``latentgraph serve`` started fresh (``--in-process`` or not), to the URL line and to
  the first demo job done (its model loaded cold), runs interleaved.
- Restart: from ``kill -9`` of an idle worker to its successor being ready.

Run: python benchmarks/worker_overhead.py [--jobs 10] [--cold 2] [--threads 2]
Targets (issue "Reliability"): warm job < 5 % slower, extra cold start < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from executor.events import Event  # noqa: E402
from executor.jobs import JobOutcome, JobRequest  # noqa: E402
from server.previews import PreviewLimiter  # noqa: E402

WORKFLOW = json.loads((ROOT / "docs" / "demo-workflow.json").read_text())


def demo_request(seed: int) -> JobRequest:
    prompt = json.loads(json.dumps(WORKFLOW))
    prompt["3"]["inputs"]["seed"] = seed
    return JobRequest(f"bench-{seed}-{time.monotonic_ns()}", prompt)


def server_sink() -> Callable[[Event], None]:
    """What the server does with each event in the job's thread: limit and encode previews."""
    from executor.events import NodeProgress

    previews = PreviewLimiter(0.1)

    def sink(event: Event) -> None:
        if isinstance(event, NodeProgress):
            previews(event)
    return sink


def warm(jobs: int, base: Path) -> tuple[dict[str, list[float]], list[tuple[float, float]]]:
    from executor.cache import make_cache
    from latentgraph.app import (
        build_engine,
        build_process_backend,
        build_registry,
        default_model_folders,
        folders_under,
        start_worker,
    )
    from latentgraph.worker_main import WorkerSpec

    folders = folders_under(base)
    spec = WorkerSpec(folders.input, folders.output, folders.temp)
    supervisor = start_worker(spec)
    model_folders = default_model_folders(folders)
    registry = build_registry(folders, model_folders)
    engine = build_engine(registry, folders, make_cache("bytes"), model_folders=model_folders)
    backend = build_process_backend(supervisor, registry, folders, model_folders)
    runners: dict[str, Callable[[JobRequest], JobOutcome]] = {
        "in-process": lambda r: engine.execute(r, server_sink()),
        "worker": lambda r: backend.execute(r, server_sink()),
    }
    times: dict[str, list[float]] = {name: [] for name in runners}
    try:
        for name, run in runners.items():  # warm-up: load the model in each
            assert run(demo_request(0)).ok, name
        for seed in range(1, jobs + 1):
            for name, run in runners.items():
                start = time.perf_counter()
                assert run(demo_request(seed)).ok, name
                times[name].append(time.perf_counter() - start)
        restarts = [restart(supervisor) for _ in range(2)]
    finally:
        backend.close()
    return times, restarts


def restart(supervisor: Any) -> tuple[float, float]:
    """(wall seconds from kill -9 to the next worker ready, CPU seconds it used to get ready)."""
    handle = supervisor.ready_worker()
    assert handle is not None
    pid = handle.pid
    start = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    while supervisor.worker_pid == pid:
        time.sleep(0.01)
    handle = supervisor.ready_worker()
    wall = time.perf_counter() - start
    fields = Path(f"/proc/{handle.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return wall, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold(in_process: bool) -> tuple[float, float]:
    """(seconds to the URL line, seconds to the first demo job done) of a fresh server."""
    base = Path(tempfile.mkdtemp(prefix="lg-cold-"))
    command = [sys.executable, "-m", "latentgraph.cli", "serve", "--port", "0", "--base-dir",
               str(base), *(["--in-process"] if in_process else [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LATENTGRAPH_TOKEN": ""}
    start = time.perf_counter()
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split("serving on ")[1].strip().rstrip("/")
        listening = time.perf_counter() - start
        body = json.dumps({"prompt": WORKFLOW, "prompt_id": "cold"}).encode()
        urllib.request.urlopen(urllib.request.Request(url + "/prompt", data=body), timeout=60)
        while True:
            with urllib.request.urlopen(url + "/api/jobs/cold", timeout=60) as response:
                status = json.loads(response.read())["status"]
            if status not in ("pending", "in_progress"):
                assert status == "completed", status
                return listening, time.perf_counter() - start
            time.sleep(0.02)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def report(times: dict[str, list[float]], restarts: list[tuple[float, float]],
           colds: dict[str, list[tuple[float, float]]]) -> None:
    inproc, worker = (statistics.median(times[k]) for k in ("in-process", "worker"))
    print(f"warm demo job, median of {len(times['worker'])}: in-process {inproc:.3f} s, "
          f"worker {worker:.3f} s ({(worker / inproc - 1) * 100:+.1f} %); min "
          f"{min(times['in-process']):.3f} s / {min(times['worker']):.3f} s")
    print("worker restart after kill -9 (wall, CPU of the new worker): "
          + ", ".join(f"{wall:.2f} s / {cpu:.2f} s" for wall, cpu in restarts))
    for name, runs in colds.items():
        print(f"cold {name}: URL after {statistics.median(r[0] for r in runs):.2f} s, first "
              f"job done after {statistics.median(r[1] for r in runs):.2f} s "
              f"({', '.join(f'{r[1]:.2f}' for r in runs)})")
    extra = (statistics.median(r[1] for r in colds["worker"])
             - statistics.median(r[1] for r in colds["in-process"]))
    print(f"extra cold start (first job done): {extra:+.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10, help="warm jobs per mode")
    parser.add_argument("--cold", type=int, default=2, help="cold starts per mode")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads in every process (OMP_NUM_THREADS)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch; workers inherit it
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as base:
        times, restarts = warm(args.jobs, Path(base))
    colds: dict[str, list[tuple[float, float]]] = {"in-process": [], "worker": []}
    for _ in range(args.cold):
        colds["in-process"].append(cold(True))
        colds["worker"].append(cold(False))
    report(times, restarts, colds)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
