"""Memory: estimates checked at validation, out-of-memory errors in plain words, the cache's
byte budget."""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from executor.cache import ByteBudgetCache, CacheEntry, LruCache, make_cache
from executor.engine import Engine
from executor.errors import PromptError
from executor.jobs import JobOutcome, JobRequest
from executor.memory import (
    budget_from_devices,
    default_cache_bytes,
    host_memory,
    peak_rss_bytes,
    reset_peak_rss,
)
from nodes.api import (
    FingerprintContext,
    Int,
    Link,
    MemoryBudget,
    MemoryEstimate,
    Node,
    NodeResult,
    Output,
    Ports,
    Registry,
    RunContext,
    TensorSpec,
    socket_type,
)
from nodes.api.ports import UnwiredModelStore

BLOB = socket_type("BLOB")
GIB = 2**30


class Blob:
    """A large value (reports its size like a tensor)."""

    def __init__(self, side: int) -> None:
        self.nbytes = side * side * 4


class MakeBlob(Node):
    """Makes a side × side float32 blob."""

    inputs = (Int("side", default=8, min=1, max=2**20),)
    outputs = (Output(BLOB),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, side: int) -> MemoryEstimate:
        spec = TensorSpec((side, side))
        return MemoryEstimate(host_bytes=spec.nbytes, what=spec.describe("blob"),
                              outputs=(spec,), advice="use a smaller side")

    def run(self, ctx: RunContext, side: int) -> tuple[Any, ...]:
        return (Blob(side),)


class Decode(Node):
    """Needs 10 × its input's size on the device; raises ``error`` (when set) while running."""

    output_node = True
    inputs = (Link("blob", BLOB),)
    error: BaseException | None = None

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, blob: TensorSpec | None
                        ) -> MemoryEstimate | None:
        if blob is None:
            return None
        return MemoryEstimate(device_bytes=10 * blob.nbytes, what="the decoder's activations",
                              advice="decode tile by tile")

    def run(self, ctx: RunContext, blob: Blob) -> NodeResult:
        if self.error is not None:
            raise self.error
        return NodeResult((), {"sizes": [blob.nbytes]})


class BrokenEstimate(Node):
    """An estimator that crashes: ignored, never a validation failure."""

    output_node = True
    inputs = (Link("blob", BLOB),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, blob: Any) -> MemoryEstimate:
        raise ZeroDivisionError("bug in a plugin")

    def run(self, ctx: RunContext, blob: Blob) -> NodeResult:
        return NodeResult((), {"ok": [True]})


class OutOfMemoryError(RuntimeError):
    """Named like torch's: recognised by its name, the executor imports no torch."""


class CountingModels(UnwiredModelStore):
    def __init__(self) -> None:
        super().__init__()
        self.unloads = 0

    def unload_all(self) -> int:
        self.unloads += 1
        return 0


def engine(budget: MemoryBudget | Callable[[], MemoryBudget],
           models: CountingModels | None = None) -> Engine:
    registry = Registry()
    registry.register_all([MakeBlob, Decode, BrokenEstimate], module="tests")
    report = budget if callable(budget) else (lambda: budget)
    ports = Ports(memory=report, models=models or CountingModels())
    return Engine(registry, make_cache("none"), ports=ports)


def prompt(side: int, consumer: str = "Decode") -> dict[str, Any]:
    return {"1": {"class_type": "MakeBlob", "inputs": {"side": side}},
            "2": {"class_type": consumer, "inputs": {"blob": ["1", 0]}}}


SPLIT = MemoryBudget(device=GIB, host=4 * GIB, device_free=GIB // 2, host_free=GIB,
                     device_name="cuda:0")


def test_an_estimate_over_the_host_budget_refuses_the_job_naming_node_inputs_and_sizes(
) -> None:
    with pytest.raises(PromptError) as caught:
        engine(SPLIT).validate(prompt(65_536))  # 16 GiB blob
    (issue,) = caught.value.node_errors["1"]["errors"]
    assert issue["type"] == "exceeds_memory_budget"
    assert "MakeBlob (side=65536)" in issue["details"]
    assert "16.0 GiB of RAM" in issue["details"] and "4.0 GiB in all" in issue["details"]
    assert "use a smaller side" in issue["details"]
    assert issue["extra_info"]["estimate_bytes"] == 16 * GIB
    assert issue["extra_info"]["budget_bytes"] == 4 * GIB


def test_sizes_flow_along_links_to_the_device_check() -> None:
    with pytest.raises(PromptError) as caught:
        engine(SPLIT).validate(prompt(8192))  # 256 MiB blob, 2.5 GiB to decode
    assert list(caught.value.node_errors) == ["2"]
    (issue,) = caught.value.node_errors["2"]["errors"]
    assert "of cuda:0" in issue["details"] and "blob=8192×8192 from node 1" in issue["details"]
    assert engine(SPLIT).validate(prompt(4096)).estimates["2"].device_bytes == 10 * 4096**2 * 4


def test_a_cpu_engine_counts_device_and_host_bytes_against_the_ram() -> None:
    cpu = MemoryBudget(device=3 * GIB, host=3 * GIB, device_is_host=True)
    engine(cpu).validate(prompt(8192))  # 256 MiB + 2.5 GiB fits 3 GiB
    with pytest.raises(PromptError):
        engine(cpu).validate(prompt(9000))


def test_no_budget_checks_nothing_and_a_crashing_estimator_is_ignored() -> None:
    assert engine(MemoryBudget()).validate(prompt(2**20)).outputs == ["2"]
    assert engine(SPLIT).validate(prompt(16, "BrokenEstimate")).outputs == ["2"]


@pytest.mark.parametrize("error", [
    MemoryError(),
    OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8 GiB total)"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:83] DefaultCPUAllocator: can't allocate "
                 "memory: you tried to allocate 123456789 bytes"),
])
def test_out_of_memory_in_a_node_is_a_plain_job_error_and_memory_is_released(
        error: BaseException, monkeypatch: pytest.MonkeyPatch) -> None:
    models = CountingModels()
    made: list[weakref.ref[Blob]] = []
    original_run = MakeBlob.run

    def tracking_run(self: MakeBlob, ctx: RunContext, side: int) -> tuple[Any, ...]:
        values = original_run(self, ctx, side)
        made.append(weakref.ref(values[0]))
        return values

    alive_when_reported: list[bool] = []

    def report() -> MemoryBudget:  # what is free is read after the job's values are released
        alive_when_reported.append(bool(made) and made[0]() is not None)
        return SPLIT

    monkeypatch.setattr(MakeBlob, "run", tracking_run)
    monkeypatch.setattr(Decode, "error", error)
    outcome = engine(report, models).execute(JobRequest("oom", prompt(64)))
    assert outcome.status == "failed" and outcome.failure is not None
    message = outcome.failure.message
    assert "Decode ran out of memory" in message
    assert "it needs at least the decoder's activations" in message
    assert "512.0 MiB of 1.0 GiB free on cuda:0" in message
    assert "To make it fit, decode tile by tile" in message
    if "2.00 GiB" in str(error):
        assert "while allocating 2.00 GiB" in message
    assert models.unloads == 1
    assert alive_when_reported[-1] is False  # the job's intermediate value was dropped
    gc.collect()
    assert made and made[0]() is None


def test_the_default_cache_is_a_byte_budget_from_the_available_ram() -> None:
    total, available = host_memory()
    cache = make_cache("bytes")
    assert isinstance(cache, ByteBudgetCache)
    if available:
        assert cache.max_bytes == default_cache_bytes() or abs(
            cache.max_bytes - available // 4) < 256 * 2**20
    assert make_cache("bytes", max_bytes=123).max_bytes == 123  # type: ignore[attr-defined]
    assert isinstance(Engine(Registry()).cache, ByteBudgetCache)


def test_lru_can_be_bounded_by_bytes_too() -> None:
    class Sized:
        nbytes = 400

    lru = LruCache(max_entries=100, max_bytes=1000)
    for key in "abc":
        lru.put(key, CacheEntry(((Sized(),),), None, 400))
    assert "a" not in lru and "b" in lru and "c" in lru and lru.used == 800
    counted = ByteBudgetCache(10**9, max_entries=2)
    for key in "xyz":
        counted.put(key, CacheEntry(((),), None, 0))  # sizeless values cannot pile up
    assert len(counted) == 2


def test_budget_from_devices() -> None:
    gpu = budget_from_devices(lambda: [{"name": "cuda:0 H200", "type": "cuda",
                                        "vram_total": 140 * GIB, "vram_free": 100 * GIB}])()
    assert gpu.device == 140 * GIB and gpu.device_free == 100 * GIB and not gpu.device_is_host
    assert gpu.device_name == "cuda:0 H200"
    cpu = budget_from_devices(lambda: [{"name": "cpu", "type": "cpu", "vram_total": 0}])()
    assert cpu.device_is_host and cpu.device == cpu.host == host_memory()[0]

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("driver gone")

    assert budget_from_devices(broken)().device_is_host


class Touch(Node):
    """Allocates and touches ``mib`` MiB, frees it before the job ends."""

    output_node = True
    inputs = (Int("mib", default=1, min=1, max=1024),)

    def run(self, ctx: RunContext, mib: int) -> NodeResult:
        block = bytearray(mib << 20)  # zero-filled: every page is touched
        return NodeResult((), {"len": [len(block)]})


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                    reason="the RSS high-water mark is Linux's /proc/self/status VmHWM")
def test_each_job_records_its_own_peak_rss() -> None:
    registry = Registry()
    registry.register_all([Touch], module="tests")
    eng = Engine(registry, make_cache("none"), ports=Ports(models=CountingModels()))
    gc.collect()
    big = eng.execute(JobRequest("big", {"1": {"class_type": "Touch", "inputs": {"mib": 96}}}))
    small = eng.execute(JobRequest("small", {"1": {"class_type": "Touch", "inputs": {"mib": 1}}}))
    assert big.ok and small.ok and big.peak_rss_bytes and small.peak_rss_bytes
    assert big.peak_rss_bytes - small.peak_rss_bytes > 64 << 20  # reset between jobs
    assert JobOutcome.from_dict(big.to_dict()).peak_rss_bytes == big.peak_rss_bytes
    assert reset_peak_rss() and (peak_rss_bytes() or 0) > 0
