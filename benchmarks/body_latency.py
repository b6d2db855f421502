"""Latency of other requests while large JSON bodies are posted (issue "Reliability").

A server (stub nodes, real TCP port) receives ``--posts`` bodies of ``--mb`` MB each, one after
another, of three kinds (one long string; the most tiny values accepted; a flood of tiny values),
while two probe processes GET ``/features`` (answered on the event loop alone) and ``/prompt``
(one job-store read) every 10 ms. Prints the probes' latency percentiles, idle and under load.

Run: python benchmarks/body_latency.py [--mb 15] [--posts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from tests.server.conftest import make_app, make_settings  # noqa: E402
from tests.server.stub_pack import server_registry, show_prompt  # noqa: E402


def big_body(megabytes: float, kind: str) -> bytes:
    """``text``: one long string (a workflow with embedded images); ``values``: the most tiny
    values the server accepts (1,000,000) or ``megabytes`` of them if that is fewer;
    ``flood``: ``megabytes`` of tiny values (refused: too many values)."""
    size = int(megabytes * 2**20)
    head = b'{"prompt": ' + json.dumps(show_prompt()).encode() + b', "extra_data": {"blob": '
    if kind == "text":
        return head + b'"' + b"x" * size + b'"}}'
    count = size // 2 if kind == "flood" else min(size // 2, 999_000)
    return head + b"[" + b"0," * (count - 1) + b"0]}}"


def probe(port: int, path: str, stop: Any, out: Any) -> None:
    """Runs in its own process, so blocking in the server is measured, never the probe's."""
    import http.client

    seen = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set():
        started = time.perf_counter()
        connection.request("GET", path)
        connection.getresponse().read()
        seen.append((time.perf_counter() - started) * 1000)
        time.sleep(0.01)
    out.put((path, seen))


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (f"{name:<22} n={len(values):4d} p50={statistics.median(values):7.1f} ms "
            f"p99={p99:7.1f} ms max={values[-1]:7.1f} ms")


async def measure(client: TestClient, body: bytes | None, posts: int) -> list[str]:
    context = multiprocessing.get_context("spawn")
    stop, out = context.Event(), context.Queue()
    port = client.server.port
    probes = [context.Process(target=probe, args=(port, p, stop, out))
              for p in ("/features", "/prompt")]
    for process in probes:
        process.start()
    await asyncio.sleep(1.0)  # the probes start
    posting, statuses = [], set()
    if body is None:
        await asyncio.sleep(2)
    for _ in range(posts if body is not None else 0):
        started = time.perf_counter()
        response = await client.post("/prompt", data=body)
        await response.read()
        posting.append((time.perf_counter() - started) * 1000)
        statuses.add(response.status)
    stop.set()
    results = dict(await asyncio.get_running_loop().run_in_executor(
        None, lambda: [out.get(timeout=60) for _ in probes]))
    for process in probes:
        process.join()
    lines = [summary(f"GET {path}", results[path]) for path in ("/features", "/prompt")]
    if posting:
        lines.append(summary(f"POST /prompt {sorted(statuses)}", posting))
    return lines


async def main(megabytes: float, posts: int) -> None:
    base = Path(tempfile.mkdtemp())
    settings = make_settings(base)
    async with TestClient(TestServer(make_app(server_registry(), settings))) as client:
        print("idle:", *await measure(client, None, 0), sep="\n  ")
        for kind in ("text", "values", "flood"):
            body = big_body(megabytes, kind)
            print(f"while posting {kind} bodies of {len(body) / 2**20:.1f} MB ({posts}x):",
                  *await measure(client, body, posts), sep="\n  ")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=15.0)
    parser.add_argument("--posts", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.mb, options.posts))
