"""ModelManager with PatchSets: one patched copy per (handle, digest); the base never changes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from diffusion.memory import ModelManager, ResidentEntry
from diffusion.patching import PatchSet, WeightDiff, patched_copy

COMPONENT_BYTES = (4 * 16 + 16 + 16 * 4 + 4) * 4  # two fp32 Linears
PATCHED_BYTES = 16 * 4 * 4  # one patched "0.weight"


class TinySource:
    """Components "a", "b", "c": small seeded MLPs."""

    def prefixes(self) -> dict[str, str]:
        return {"a": "a.", "b": "b.", "c": "c."}

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32) -> int:
        return COMPONENT_BYTES

    def load(self, name: str, *, dtype: torch.dtype = torch.float32) -> nn.Module:
        torch.manual_seed(ord(name))
        return nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 4)).eval().to(dtype)


def _patches(strength: float = 1.0) -> PatchSet:
    diff = torch.randn(16, 4, generator=torch.Generator().manual_seed(3))
    return PatchSet((WeightDiff("0.weight", diff, strength),))


def _run(module: nn.Module) -> Tensor:
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        return module(x.to(next(module.parameters()).device))


def _alone(name: str, patches: PatchSet) -> Tensor:
    """The output of a fresh copy of the component, outside any manager."""
    module = TinySource().load(name)
    return _run(patched_copy(module, patches).module if patches else module)


@pytest.fixture
def manager() -> ModelManager:
    return ModelManager(budget_bytes=2 * COMPONENT_BYTES, opener=lambda _p: TinySource())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"x")
    return file


def test_nested_patched_and_unpatched_uses_match_running_alone(manager, path) -> None:
    a = manager.open(path)["a"]
    want_base, want_patched = _alone("a", PatchSet.EMPTY), _alone("a", _patches())
    for _ in range(3):
        with manager.use(a) as base, manager.use(a, _patches()) as patched:
            assert torch.equal(_run(patched), want_patched)
            assert torch.equal(_run(base), want_base)
        with manager.use(a, _patches()) as patched, a.use() as base:
            assert torch.equal(_run(base), want_base)
            assert torch.equal(_run(patched), want_patched)
            assert patched is not base and patched[2].weight is base[2].weight
    assert manager.loads == 1 and manager.patched_copies == 1
    with manager.use(a, _patches(0.5)) as other:
        assert not torch.equal(_run(other), want_patched) and manager.patched_copies == 2


def test_threads_alternating_patched_and_unpatched_match_running_alone(manager, path) -> None:
    a = manager.open(path)["a"]
    want = {"base": _alone("a", PatchSet.EMPTY), "patched": _alone("a", _patches())}
    outputs: dict[str, list[Tensor]] = {"base": [], "patched": []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2, timeout=20)

    def worker(name: str, patches: PatchSet) -> None:
        try:
            for _ in range(5):
                with manager.use(a, patches) as module:
                    barrier.wait()  # both threads hold their module
                    outputs[name].append(_run(module))
                    barrier.wait()  # both ran before either lets go
        except BaseException as err:  # reported below, not lost in the thread
            errors.append(err)
            barrier.abort()

    threads = [
        threading.Thread(target=worker, args=("base", PatchSet.EMPTY)),
        threading.Thread(target=worker, args=("patched", _patches())),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    for name, results in outputs.items():
        assert len(results) == 5 and all(torch.equal(out, want[name]) for out in results)
    assert manager.loads == 1 and manager.patched_copies == 1


def test_patched_entry_counts_only_its_patched_bytes(manager, path) -> None:
    a = manager.open(path)["a"]
    patches = _patches()
    with a.use(patches):
        assert manager.device_bytes == COMPONENT_BYTES + PATCHED_BYTES
        assert manager.resident_entries() == [
            ResidentEntry(str(path.resolve()), "a", "", True, COMPONENT_BYTES),
            ResidentEntry(str(path.resolve()), "a", patches.digest, True, PATCHED_BYTES),
        ]
        assert [c for _, c, _ in manager.resident()] == ["a", "a"]


def test_eviction_drops_patched_copies_first_or_with_their_base(manager, path) -> None:
    h = manager.open(path)
    with h["a"].use(_patches()):
        pass
    with h["a"].use():  # the base is now more recently used than its copy
        pass
    with h["b"].use():  # room for b: the idle copy goes, its base stays
        pass
    assert [(e.component, e.digest) for e in manager.resident_entries()] == [("a", ""), ("b", "")]
    with h["a"].use(_patches()):
        pass
    with h["c"].use():  # room for c: b goes (LRU) ...
        pass
    with h["b"].use():  # ... then base a, and its copy with it
        pass
    assert [(e.component, e.digest) for e in manager.resident_entries()] == [("c", ""), ("b", "")]
    assert manager.patched_copies == 2


def test_a_patched_copy_in_use_keeps_its_base(manager, path) -> None:
    h = manager.open(path)
    want = _alone("a", _patches())
    with h["a"].use(_patches()) as patched:
        for name in ("b", "c"):
            with h[name].use():
                pass
        assert [e.component for e in manager.resident_entries()][:2] == ["a", "a"]
        assert torch.equal(_run(patched), want)
        assert manager.unload_all() == 1  # only the idle "c"


def test_unload_all_drops_idle_patched_copies(manager, path) -> None:
    a = manager.open(path)["a"]
    with a.use():
        with a.use(_patches()):
            pass
        assert manager.unload_all() == 1  # the idle copy; the base is in use
        assert [e.digest for e in manager.resident_entries()] == [""]
    with a.use(_patches()):
        pass
    assert manager.unload_all() == 2 and manager.resident_entries() == []
    assert manager.patched_copies == 2 and manager.loads == 1


def test_a_changed_file_drops_its_patched_copies(manager, path) -> None:
    with manager.open(path)["a"].use(_patches()):
        pass
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    manager.open(path)
    assert manager.resident_entries() == [] and manager.device_bytes == 0


def test_bad_patches_are_named_and_release_the_base(manager, path) -> None:
    a = manager.open(path)["a"]
    with pytest.raises(TypeError, match="patches must be a PatchSet, got tuple"):
        with manager.use(a, ()):  # type: ignore[arg-type]
            pass
    unknown = PatchSet((WeightDiff("nope.weight", torch.zeros(1)),))
    with pytest.raises(KeyError, match="nope.weight"), a.use(unknown):
        pass
    assert manager.unload_all() == 1  # the base was read, then unpinned


@pytest.mark.skipif(not torch.cuda.is_available(), reason="host offload needs an accelerator")
def test_offloading_a_base_to_host_drops_its_patched_copy(path) -> None:
    manager = ModelManager(
        budget_bytes=2 * COMPONENT_BYTES, device="cuda", opener=lambda _p: TinySource()
    )
    h = manager.open(path)
    want = _alone("a", _patches())
    with h["a"].use(_patches()) as patched:
        assert patched[0].weight.device.type == "cuda"
    for name in ("b", "c"):
        with h[name].use():
            pass
    entries = {(e.component, e.digest): e.on_device for e in manager.resident_entries()}
    assert entries == {("a", ""): False, ("b", ""): True, ("c", ""): True}
    with h["a"].use(_patches()) as patched:
        torch.testing.assert_close(_run(patched).cpu(), want)
        assert patched[2].weight.device.type == "cuda" and manager.patched_copies == 2
