"""Load test: N concurrent clients queue stub jobs over HTTP and follow them over websockets.

Starts ``latentgraph serve`` on 127.0.0.1 (a free port, a temporary base folder, the stub
pack ``tests.server.slow_pack``), then each client opens ``/ws``, queues its share of jobs with
``POST /prompt`` (latency measured per request) and waits for ``executing {node: null}`` of
every job it queued. Prints jobs/s, p50/p99 POST latency, and checks that no job was lost
(every job ended on the socket and shows ``completed`` in ``/api/jobs``).

    python benchmarks/server_load.py [--clients 20] [--jobs 1000] [--timeout 600]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def start_server(base: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LATENTGRAPH_TOKEN": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "latentgraph.cli", "serve", "--host", "127.0.0.1", "--port", "0",
         "--base-dir", str(base), "--cache", "none",
         "--node-pack", "tests.server.slow_pack:register"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "serving on" not in line:
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, line.split("serving on ")[1].strip().rstrip("/")


def prompt(n: int) -> dict[str, Any]:
    return {"1": {"class_type": "Sleep", "inputs": {"ms": 0, "n": n}},
            "2": {"class_type": "Shout", "inputs": {"value": ["1", 0]}}}


async def client(url: str, index: int, count: int, latencies: list[float]) -> set[str]:
    """Queue ``count`` jobs; return the ids whose end was seen on the socket."""
    sid = f"load-client-{index}"
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"{url}/ws?clientId={sid}") as ws:
        queued: set[str] = set()
        ended: set[str] = set()

        async def listen() -> None:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = message.json()
                if data["type"] == "executing" and data["data"].get("node") is None:
                    ended.add(data["data"]["prompt_id"])
                    if len(ended) == count and ended >= queued:
                        return

        listener = asyncio.create_task(listen())
        for i in range(count):
            started = time.perf_counter()
            async with session.post(f"{url}/prompt", json={
                    "prompt": prompt(index * 1_000_000 + i), "client_id": sid}) as response:
                body = await response.json()
            latencies.append(time.perf_counter() - started)
            queued.add(body["prompt_id"])
        await listener
        return ended & queued


async def completed_ids(url: str) -> set[str]:
    async with aiohttp.ClientSession() as session, session.get(
            f"{url}/api/jobs?status=completed&limit=10000") as response:
        return {job["id"] for job in (await response.json())["jobs"]}


async def run(url: str, clients: int, jobs: int, timeout: float) -> int:
    latencies: list[float] = []
    shares = [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]
    started = time.perf_counter()
    results = await asyncio.wait_for(asyncio.gather(
        *(client(url, i, n, latencies) for i, n in enumerate(shares))), timeout)
    elapsed = time.perf_counter() - started
    seen = set().union(*results)
    done = await completed_ids(url)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"clients={clients} jobs={jobs} elapsed={elapsed:.2f}s "
          f"throughput={jobs / elapsed:.1f} jobs/s")
    print(f"POST /prompt latency: p50={statistics.median(latencies) * 1000:.1f} ms "
          f"p99={p99 * 1000:.1f} ms (n={len(latencies)})")
    lost = jobs - len(seen & done)
    print(f"ended on websocket: {len(seen)}, completed in /api/jobs: {len(done)}, lost: {lost}")
    return 0 if lost == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="latentgraph-load-") as base:
        process, url = start_server(Path(base))
        try:
            return asyncio.run(run(url, args.clients, args.jobs, args.timeout))
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
