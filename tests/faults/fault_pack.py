"""Nodes that misbehave, for the fault-injection suite, and the worker that runs them.

Each fault node appends a line to ``<output>/runs.log`` when it starts, so a test can count how
often a job really ran, whichever process ran it. The pack also registers the server's stub
nodes (``tests.server.stub_pack``) and ``tests.server.slow_pack``'s ``Sleep``/``Shout``.

- ``Crash``: ``os._exit(code)`` mid-node; ``Segfault``: a real SIGSEGV (no core file);
- ``Hang``: sleeps ``seconds`` without ever checking for cancellation;
- ``Oom``: raises ``MemoryError``.

As a ``--node-pack`` of a real server: ``tests.faults.fault_pack:register``; as the worker of
an in-test server: ``functools.partial(build_worker, base_dir)`` (no built-in nodes, no torch).
"""

from __future__ import annotations

import ctypes
import os
import resource
import time
from pathlib import Path
from typing import Any

from executor.cache import make_cache
from executor.engine import Engine
from executor.worker_child import WorkerSetup
from nodes.api import (
    CachePolicy,
    Folders,
    Int,
    Node,
    NodeResult,
    Ports,
    Registry,
    RunContext,
)
from nodes.api.ports import UnwiredModelStore
from tests.server import slow_pack
from tests.server.stub_pack import server_registry

RUNS = "runs.log"


def record_run(ctx: RunContext, what: str) -> None:
    assert ctx.folders is not None
    with open(ctx.folders.output / RUNS, "a", encoding="utf-8") as log:
        log.write(f"{what} {ctx.job_id} {os.getpid()}\n")


def runs(output_dir: Path, what: str = "") -> list[str]:
    """The lines of the run log (of ``what`` runs only, when given)."""
    path = output_dir / RUNS
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [line for line in lines if line.startswith(what)]


class _Fault(Node):
    output_node = True
    cache = CachePolicy.NEVER


class Crash(_Fault):
    """Ends its process with ``os._exit(code)``."""

    inputs = (Int("code", default=3, min=0, max=255), Int("token", default=0, min=0, max=10**9))

    def run(self, ctx: RunContext, code: int, token: int) -> NodeResult:
        record_run(ctx, "Crash")
        os._exit(code)


class Segfault(_Fault):
    """Reads address 0: a real segmentation fault (core dumps off)."""

    inputs = (Int("token", default=0, min=0, max=10**9),)

    def run(self, ctx: RunContext, token: int) -> NodeResult:
        record_run(ctx, "Segfault")
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        ctypes.string_at(0)
        raise AssertionError("still alive after reading address 0")


class Hang(_Fault):
    """Sleeps without ever checking for cancellation."""

    inputs = (Int("seconds", default=60, min=0, max=600), Int("token", default=0, min=0,
                                                               max=10**9))

    def run(self, ctx: RunContext, seconds: int, token: int) -> NodeResult:
        record_run(ctx, "Hang")
        time.sleep(seconds)
        return NodeResult((), {"text": ["woke up"]})


class Oom(_Fault):
    """Fails to allocate."""

    inputs = (Int("token", default=0, min=0, max=10**9),)

    def run(self, ctx: RunContext, token: int) -> NodeResult:
        record_run(ctx, "Oom")
        raise MemoryError("cannot allocate 1 TiB (fault injection)")


FAULTS = (Crash, Segfault, Hang, Oom)


def register(registry: Registry) -> None:
    """The fault nodes and the slow pack (for a real server: ``--node-pack``)."""
    slow_pack.register(registry)
    registry.register_all(list(FAULTS), module="tests.faults.fault_pack")


def fault_registry() -> Registry:
    """The server's stub nodes, the slow pack and the fault nodes."""
    registry = server_registry()
    register(registry)
    return registry


def fault(node: str, **inputs: Any) -> dict[str, Any]:
    """A one-node prompt."""
    return {"1": {"class_type": node, "inputs": inputs}}


class MarkedModelStore(UnwiredModelStore):
    """Leaves a file behind when models are unloaded (``POST /free`` reached the worker)."""

    def __init__(self, marker: Path) -> None:
        super().__init__()
        self._marker = marker

    def unload_all(self) -> int:
        with open(self._marker, "a", encoding="utf-8") as marker:
            marker.write(f"{os.getpid()}\n")
        return 0


def worker_devices() -> list[dict[str, Any]]:
    return [{"name": f"fault-worker:{os.getpid()}", "type": "cpu", "index": 0,
             "vram_total": 0, "vram_free": 0, "torch_vram_total": 0, "torch_vram_free": 0}]


def build_worker(base: str) -> WorkerSetup:
    """The worker of an in-test server over ``base`` (runs in the worker process)."""
    root = Path(base)
    folders = Folders(root / "input", root / "output", root / "temp")
    ports = Ports(models=MarkedModelStore(root / "temp" / "unloaded"), devices=worker_devices)
    return WorkerSetup(Engine(fault_registry(), make_cache("lru", max_entries=1000),
                              folders=folders, ports=ports))


def broken_worker(base: str) -> WorkerSetup:
    """A worker whose node pack does not import."""
    raise ImportError("no module named 'broken_pack'")


def slow_worker(base: str) -> WorkerSetup:
    """A worker that takes a minute to start (a cold model cache, a slow disk)."""
    time.sleep(60)
    return build_worker(base)
