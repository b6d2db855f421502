"""Stub model loading for the Ray tests: a loader node and a model store that counts loads.

``StubCheckpointLoader`` names its file in ``ckpt_name`` (as CheckpointLoaderSimple does, so
``executor.model_refs`` finds it) and opens it through the engine's model store. The store holds
``capacity`` files (least recently used evicted first), counts the files it loaded and lists the
ones it holds (``resident``), as ``diffusion.memory.ModelManager`` does; ``SLOW_LOAD_S`` stands
for the seconds a real load takes.
"""

from __future__ import annotations

import functools
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from executor.cache import make_cache
from executor.engine import Engine
from executor.worker_child import WorkerSetup
from nodes.api import CachePolicy, Folders, Int, Node, Output, Ports, Registry, RunContext, String
from tests.executor.stub_nodes import NUMBER
from tests.faults.fault_pack import fault_registry

LOAD_S = 0.05


class CountingModelStore:
    """Holds ``capacity`` model files; ``loads`` counts the files read."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.loads = 0
        self._held: OrderedDict[str, None] = OrderedDict()

    def device(self) -> Any:
        return "cpu"

    def open(self, path: Path) -> Mapping[str, Any]:
        key = str(path)
        if key in self._held:
            self._held.move_to_end(key)
        else:
            time.sleep(LOAD_S)
            self.loads += 1
            self._held[key] = None
            while len(self._held) > self.capacity:
                self._held.popitem(last=False)
        return {"model": key}

    @contextmanager
    def use(self, handle: Any, patches: Any = None) -> Iterator[Any]:
        yield handle

    def unload_all(self) -> int:
        count = len(self._held)
        self._held.clear()
        return count

    def resident(self) -> list[tuple[str, str, bool]]:
        return [(key, "model", True) for key in self._held]


class StubCheckpointLoader(Node):
    """Opens ``ckpt_name`` through the model store, then works ``ms`` milliseconds."""

    cache = CachePolicy.NEVER
    inputs = (String("ckpt_name", default="a.ckpt"), Int("ms", default=0, min=0, max=60_000),
              Int("n", default=0, min=0, max=10**9))
    outputs = (Output(NUMBER),)

    def run(self, ctx: RunContext, ckpt_name: str, ms: int, n: int) -> tuple[Any, ...]:
        ctx.models.open(Path(ckpt_name))
        deadline = time.monotonic() + ms / 1000
        while time.monotonic() < deadline:
            ctx.check_cancelled()
            time.sleep(0.01)
        return (float(n),)


def model_registry() -> Registry:
    registry = fault_registry()
    registry.register(StubCheckpointLoader, module="tests.ray.model_pack")
    return registry


def devices() -> list[dict[str, Any]]:
    return [{"name": f"ray-stub:{os.getpid()}", "type": "cpu", "index": 0, "vram_total": 0,
             "vram_free": 0, "torch_vram_total": 0, "torch_vram_free": 0}]


def build_worker(base: str, capacity: int = 1) -> WorkerSetup:
    """A Ray worker's engine over ``base`` (runs in the actor): stub and fault nodes, a
    counting model store holding ``capacity`` files."""
    root = Path(base)
    folders = Folders(root / "input", root / "output", root / "temp")
    ports = Ports(models=CountingModelStore(capacity), devices=devices)
    return WorkerSetup(Engine(model_registry(), make_cache("lru", max_entries=1000),
                              folders=folders, ports=ports))


def worker_build(base: Path, capacity: int = 1) -> functools.partial[WorkerSetup]:
    return functools.partial(build_worker, str(base), capacity)


def load_prompt(ckpt: str, n: int, ms: int = 0) -> dict[str, Any]:
    return {"1": {"class_type": "StubCheckpointLoader",
                  "inputs": {"ckpt_name": ckpt, "ms": ms, "n": n}},
            "2": {"class_type": "Shout", "inputs": {"value": ["1", 0]}}}
