"""Soak: many demo-model jobs through a real server (worker mode) while 16 MB bodies are posted.

``latentgraph serve`` (nodes in its worker process) runs ``--jobs`` jobs of the default workflow
(docs/demo-workflow.json: the embedded model, 20 steps) with a new seed each and sizes cycling
through ``SIZES``, submitted so that one job waits while another runs. Meanwhile:

- a poster process posts a 16 MB body to ``/prompt`` over and over (``--gap`` seconds between
  posts): the demo prompt with ``steps`` 0 and a 16 MB string in ``extra_data``, so the whole
  body is read, parsed (in the server's JSON helper process) and validated, and refused (400)
  without storing 16 MB per post;
- a probe process sends ``GET /prompt`` every 20 ms;
- this process samples the resident memory (VmRSS) of the server, its worker and its JSON
  helper every 0.25 s, marking the samples taken while a large body was in flight.

Reports the jobs, RSS after the warm-up (the first ``--warmup`` jobs) at rest (no large body in
flight) and at peak, and the latency of ``POST /prompt`` (the job submissions) and of the probe,
all of them and those that overlapped a large body.

Run: flock /tmp/heavy.lock python benchmarks/soak.py [--jobs 200] [--threads 2] [--cache-bytes 8M]
Targets (issue "Reliability"): RSS flat within ±5 % after warm-up; p99 ``/prompt`` < 50 ms
while a 16 MB body is being posted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = json.loads((ROOT / "docs" / "demo-workflow.json").read_text())
SIZES = (64, 96, 128, 160, 128, 96)  # width × height of each job, cycling
BODY_BYTES = 16 * 2**20 - 4096  # just under serve's default --max-body-mb 16
QUEUE_DEPTH = 2  # jobs submitted but not finished


def demo_prompt(seed: int, size: int, steps: int = 20) -> dict[str, Any]:
    prompt: dict[str, Any] = json.loads(json.dumps(WORKFLOW))
    prompt["3"]["inputs"].update(seed=seed, steps=steps)
    prompt["5"]["inputs"].update(width=size, height=size)
    return prompt


def big_body() -> bytes:
    """16 MB: a demo prompt refused by validation (steps 0) carrying one long string."""
    head = json.dumps({"prompt": demo_prompt(0, 128, steps=0),
                       "extra_data": {"blob": ""}}).encode()
    head = head[:-3]  # the empty blob's closing quote and braces: '"}}'
    pad = BODY_BYTES - len(head) - 3
    return head + b"x" * pad + b'"}}'


class Http:
    """One keep-alive connection (reopened after an error)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            raise


def poster(url: str, gap: float, stop: Any, in_flight: Any, out: Any) -> None:
    """Posts the 16 MB body until ``stop``; ``in_flight`` is 1 while one is being handled."""
    body, client, seen = big_body(), Http(url), []
    while not stop.is_set():
        in_flight.value = 1
        started = time.perf_counter()
        status, _ = client.call("POST", "/prompt", body)
        in_flight.value = 0
        seen.append((started, time.perf_counter() - started, status))
        stop.wait(gap)
    out.put(("poster", seen))


def prober(url: str, stop: Any, out: Any) -> None:
    """``GET /prompt`` every 20 ms: (start, seconds) of each."""
    client, seen = Http(url), []
    while not stop.is_set():
        started = time.perf_counter()
        status, _ = client.call("GET", "/prompt")
        assert status == 200, status
        seen.append((started, time.perf_counter() - started))
        time.sleep(0.02)
    out.put(("probe", seen))


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def has_torch(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def children_of(pid: int) -> tuple[list[int], list[int]]:
    """The server's ``spawn`` children: (worker processes, which load torch; helpers, which
    do not: the JSON parser of large bodies)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    workers = [child for child in found if has_torch(child)]
    return workers, [child for child in found if child not in workers]


@dataclass
class Samples:
    """(time, server MiB, worker MiB, helper MiB, a large body in flight, jobs finished)."""

    rows: list[tuple[float, float, float, float, bool, int]] = field(default_factory=list)
    worker_pids: set[int] = field(default_factory=set)


def sample(server_pid: int, in_flight: Any, finished: list[int], stop: threading.Event,
           samples: Samples) -> None:
    while not stop.is_set():
        workers, helpers = children_of(server_pid)
        samples.worker_pids.update(workers)
        busy = bool(in_flight.value)
        row = (time.perf_counter(), rss_mib(server_pid), sum(rss_mib(w) for w in workers),
               sum(rss_mib(h) for h in helpers), busy or bool(in_flight.value), finished[0])
        samples.rows.append(row)
        stop.wait(0.25)


def start_server(base: Path, threads: int, options: list[str]
                 ) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LATENTGRAPH_TOKEN": "",
           "OMP_NUM_THREADS": str(threads)}
    server = subprocess.Popen(
        [sys.executable, "-m", "latentgraph.cli", "serve", "--port", "0", "--base-dir",
         str(base), *options], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=(base / "server.log").open("w"), text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    assert "serving on" in line, (line, (base / "server.log").read_text())
    return server, line.split("serving on ")[1].strip().rstrip("/")


@dataclass
class Submitted:
    started: float
    seconds: float
    overlapped: bool


def run_jobs(client: Http, jobs: int, in_flight: Any, finished: list[int],
             budget_s: float | None = None) -> tuple[list[Submitted], list[str], list[float]]:
    """Submit ``jobs`` jobs (fewer if ``budget_s`` seconds pass first), ``QUEUE_DEPTH`` at a
    time; their submissions, statuses and finish times."""
    deadline = time.perf_counter() + budget_s if budget_s is not None else None
    submitted: list[Submitted] = []
    open_ids: list[str] = []
    statuses: list[str] = []
    ends: list[float] = []
    for index in range(jobs):
        if deadline is not None and time.perf_counter() > deadline:
            break
        while len(open_ids) >= QUEUE_DEPTH:
            open_ids = collect(client, open_ids, statuses, ends)
            finished[0] = len(statuses)
            time.sleep(0.05)
        body = json.dumps({"prompt": demo_prompt(1000 + index, SIZES[index % len(SIZES)]),
                           "prompt_id": f"soak-{index:04d}"}).encode()
        during = bool(in_flight.value)
        started = time.perf_counter()
        status, answer = client.call("POST", "/prompt", body)
        seconds = time.perf_counter() - started
        assert status == 200, answer[:500]
        submitted.append(Submitted(started, seconds, during or bool(in_flight.value)))
        open_ids.append(f"soak-{index:04d}")
    while open_ids:
        open_ids = collect(client, open_ids, statuses, ends)
        finished[0] = len(statuses)
        time.sleep(0.05)
    return submitted, statuses, ends


def collect(client: Http, open_ids: list[str], statuses: list[str], ends: list[float]
            ) -> list[str]:
    still = []
    for prompt_id in open_ids:
        status, answer = client.call("GET", f"/api/jobs/{prompt_id}")
        state = json.loads(answer)["status"] if status == 200 else f"http {status}"
        if state in ("pending", "in_progress"):
            still.append(prompt_id)
        else:
            statuses.append(state)
            ends.append(time.perf_counter())
    return still


def percentiles(name: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{name}: none"
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (f"{name}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, "
            f"max {ms[-1]:.1f} ms")


def rss_report(name: str, values: list[float], peaks: list[float]) -> str:
    if not values:
        return f"{name} RSS: no samples at rest after the warm-up (run more jobs)"
    middle = statistics.median(values)
    tenth = max(1, len(values) // 10)
    first, last = statistics.median(values[:tenth]), statistics.median(values[-tenth:])
    return (f"{name} RSS at rest after warm-up: median {middle:.0f} MiB, range "
            f"{(min(values) / middle - 1) * 100:+.1f} % … {(max(values) / middle - 1) * 100:+.1f} %"
            f", first tenth {first:.0f} MiB → last tenth {last:.0f} MiB "
            f"({(last / first - 1) * 100:+.1f} %); peak with a large body in flight "
            f"{max(peaks, default=0.0):.0f} MiB")


def report(jobs: int, warmup: int, wall: float, statuses: list[str], samples: Samples,
           submitted: list[Submitted], probes: list[tuple[float, float]],
           posts: list[tuple[float, float, int]]) -> None:
    done = statuses.count("completed")
    print(f"{jobs} jobs in {wall / 60:.1f} min ({wall / jobs:.2f} s per job): {done} completed, "
          f"{len(statuses) - done} not ({sorted(set(statuses))}); worker pids seen: "
          f"{len(samples.worker_pids)}")
    rows = [r for r in samples.rows if r[5] >= warmup]
    rest = [r for r in rows if not r[4]]
    busy = [r for r in rows if r[4]]
    print(f"RSS samples after the first {warmup} jobs: {len(rest)} at rest, {len(busy)} with a "
          "large body in flight")
    print("  " + rss_report("server", [r[1] for r in rest], [r[1] for r in busy]))
    print("  " + rss_report("worker", [r[2] for r in rest], [r[2] for r in busy]))
    helper = [r[3] for r in rest if r[3]]
    if helper:
        print("  " + rss_report("JSON helper", helper, [r[3] for r in busy]))
    windows = [(start, start + seconds) for start, seconds, _ in posts]

    def overlapped(start: float, seconds: float) -> bool:
        return any(a < start + seconds and start < b for a, b in windows)

    codes = sorted({code for _, _, code in posts})
    print(f"16 MB posts: {len(posts)} (HTTP {codes}), "
          + percentiles("latency", [s for _, s, _ in posts]).split(": ", 1)[1])
    print("  " + percentiles("POST /prompt (jobs), all", [s.seconds for s in submitted]))
    print("  " + percentiles("POST /prompt (jobs) during a 16 MB post",
                             [s.seconds for s in submitted
                              if s.overlapped or overlapped(s.started, s.seconds)]))
    print("  " + percentiles("GET /prompt probe, all", [s for _, s in probes]))
    print("  " + percentiles("GET /prompt probe during a 16 MB post",
                             [s for t, s in probes if overlapped(t, s)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=None,
                        help="jobs before RSS counts (default: a tenth, at least 12)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="submit no new job after this many minutes (a busy machine)")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between 16 MB posts")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (OMP_NUM_THREADS)")
    parser.add_argument("--cache-bytes", default="8M", metavar="SIZE",
                        help="serve --cache-bytes (default 8M: the output cache is full after "
                             "the warm-up, so its growth toward its budget is not counted as "
                             "drift; 'default' for serve's own, a quarter of the RAM)")
    parser.add_argument("--serve-option", action="append", default=[], metavar="OPTION",
                        help="passed to latentgraph serve (repeat; e.g. --serve-option="
                             "--worker-nice=0)")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else max(12, args.jobs // 10)
    if args.minutes and args.warmup is None:
        warmup = 6  # a time budget on a busy machine: few jobs may fit
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    base = Path(tempfile.mkdtemp(prefix="lg-soak-"))
    cache = [] if args.cache_bytes == "default" else [f"--cache-bytes={args.cache_bytes}"]
    server, url = start_server(base, args.threads, cache + args.serve_option)
    context = multiprocessing.get_context("spawn")
    stop, out, in_flight = context.Event(), context.Queue(), context.Value("i", 0)
    helpers = [context.Process(target=poster, args=(url, args.gap, stop, in_flight, out)),
               context.Process(target=prober, args=(url, stop, out))]
    samples, finished, sampling = Samples(), [0], threading.Event()
    sampler = threading.Thread(target=sample, args=(server.pid, in_flight, finished, sampling,
                                                    samples), daemon=True)
    try:
        client = Http(url)
        sampler.start()
        for helper in helpers:
            helper.start()
        started = time.perf_counter()
        submitted, statuses, _ = run_jobs(client, args.jobs, in_flight, finished,
                                          args.minutes * 60 if args.minutes else None)
        wall = time.perf_counter() - started
        stop.set()
        results = dict(out.get(timeout=120) for _ in helpers)
        for helper in helpers:
            helper.join(30)
        sampling.set()
        sampler.join()
        report(len(statuses), warmup, wall, statuses, samples, submitted, results["probe"],
               results["poster"])
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
