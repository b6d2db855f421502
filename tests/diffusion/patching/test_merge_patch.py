"""MergePatch: the blend of another model's weight, read through its handle when applied.

Bit-for-bit against the hand formula; one read of each source however many patches (also with
two sources and a budget that fits only one of them); sources pinned only while a patched copy
is built; no deadlock when two threads build merged copies at once; identities that follow the
source file, not tensors; shape mismatches named."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from diffusion.component_shapes import parameter_shapes
from diffusion.memory import ModelHandle, ModelManager
from diffusion.patching import MergePatch, PatchSet, WeightDiff, plan_merge
from diffusion.patching.merge import MergePlan

BYTES = (8 * 16 + 16 + 16 * 8 + 8) * 4  # one component: two fp32 Linears


class SeededSource:
    """One component "net" whose weights are seeded by the file's name."""

    def __init__(self, path: Path) -> None:
        self.seed = sum(path.name.encode())

    def prefixes(self) -> dict[str, str]:
        return {"net": "net."}

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32) -> int:
        return BYTES

    def load(self, name: str, *, dtype: torch.dtype = torch.float32) -> nn.Module:
        torch.manual_seed(self.seed)
        return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8)).eval().to(dtype)

    def empty(self, name: str) -> nn.Module:
        with torch.device("meta"):
            return self.load(name)


class LoadOnlySource(SeededSource):
    """An opener that cannot build a component empty."""

    empty = None  # type: ignore[assignment]


def _manager(budget: int = 8 * BYTES, opener: type[SeededSource] = SeededSource
             ) -> ModelManager:
    return ModelManager(budget_bytes=budget, opener=opener)


def _handles(manager: ModelManager, tmp_path: Path, *names: str) -> list[ModelHandle]:
    handles = []
    for name in names:
        path = tmp_path / f"{name}.safetensors"
        if not path.exists():
            path.write_bytes(name.encode())
        handles.append(manager.open(path)["net"])
    return handles


def _plan(target: ModelHandle, source: ModelHandle, a: float, b: float,
          source_patches: PatchSet = PatchSet.EMPTY) -> MergePlan:
    return plan_merge(parameter_shapes(target), parameter_shapes(source), source,
                      lambda key: (a, b), source_patches=source_patches)


def _weights(manager: ModelManager, handle: ModelHandle,
             patches: PatchSet = PatchSet.EMPTY) -> dict[str, torch.Tensor]:
    with manager.use(handle, patches) as module:
        return {k: v.clone() for k, v in module.state_dict().items()}


def test_merged_weights_are_the_hand_formula_bit_for_bit(tmp_path: Path) -> None:
    manager = _manager()
    one, two = _handles(manager, tmp_path, "one", "two")
    plan = _plan(one, two, 0.3, 0.7)
    assert len(plan.patches) == 4 and plan.shared == 4 and not plan.mismatched
    merged = _weights(manager, one, PatchSet(plan.patches))
    w1, w2 = _weights(manager, one), _weights(manager, two)
    for key, value in merged.items():
        assert torch.equal(value, 0.3 * w1[key] + 0.7 * w2[key]), key
    assert not torch.equal(merged["0.weight"], w1["0.weight"])


def test_the_source_patches_are_part_of_what_is_read(tmp_path: Path) -> None:
    manager = _manager()
    one, two = _handles(manager, tmp_path, "one", "two")
    lora = PatchSet((WeightDiff("0.weight", torch.ones(16, 8), 0.5),))
    plan = _plan(one, two, 0.5, 0.5, source_patches=lora)
    merged = _weights(manager, one, PatchSet(plan.patches))
    w1, w2 = _weights(manager, one), _weights(manager, two, lora)
    assert torch.equal(merged["0.weight"], 0.5 * w1["0.weight"] + 0.5 * w2["0.weight"])
    assert _plan(one, two, 0.5, 0.5).patches[0].identity() != plan.patches[0].identity()


def test_n_patches_read_the_source_once_and_unpin_it(tmp_path: Path) -> None:
    manager = _manager()
    one, two = _handles(manager, tmp_path, "one", "two")
    patches = PatchSet(_plan(one, two, 0.5, 0.5).patches)
    with manager.use(one, patches):
        assert manager.loads == 2  # the base and the source, once each, for 4 patches
        assert manager.unload_all() == 1  # the source is idle: only it can be dropped
        assert {e.path for e in manager.resident_entries()} == {one.key.path}


def test_two_sources_on_a_tight_budget_are_each_read_once(tmp_path: Path) -> None:
    """A budget for two models: without pinning both sources for the whole build, the two
    sources would evict each other key by key (9 reads instead of 3)."""
    manager = _manager(budget=2 * BYTES)  # the base and one more model
    one, two, three = _handles(manager, tmp_path, "one", "two", "three")
    first = _plan(one, two, 0.5, 0.5).patches
    second = _plan(one, three, 0.5, 0.5).patches
    _weights(manager, one, PatchSet((*first, *second)))
    assert manager.loads == 3


def test_building_merged_copies_in_two_threads_does_not_deadlock(tmp_path: Path) -> None:
    manager = _manager()
    one, two, three = _handles(manager, tmp_path, "one", "two", "three")
    jobs = {"a": (one, two), "b": (two, three), "c": (three, one)}
    results: dict[str, dict[str, torch.Tensor]] = {}
    barrier = threading.Barrier(len(jobs), timeout=30)

    def build(name: str) -> None:
        target, source = jobs[name]
        barrier.wait()
        results[name] = _weights(manager, target, PatchSet(_plan(target, source, 0.2,
                                                                  0.8).patches))

    threads = [threading.Thread(target=build, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "deadlock: a merge never finished"
    assert set(results) == set(jobs)
    w = {h: _weights(manager, h) for h in (one, two, three)}
    assert torch.equal(results["b"]["2.bias"], 0.2 * w[two]["2.bias"] + 0.8 * w[three]["2.bias"])


def test_identity_is_the_source_file_key_and_scales_not_tensors(tmp_path: Path) -> None:
    manager = _manager()
    one, two = _handles(manager, tmp_path, "one", "two")
    patch = MergePatch("0.weight", two, "0.weight", 0.25, 0.75)
    stat = os.stat(two.key.path)
    assert patch.identity() == ("merge", "0.weight", two.key.path, stat.st_size,
                                stat.st_mtime_ns, "net", "", "0.weight", 0.25, 0.75)
    same = MergePatch("0.weight", two, "0.weight", 0.25, 0.75)
    assert PatchSet((patch,)) == PatchSet((same,))
    assert PatchSet((patch,)) != PatchSet((MergePatch("0.weight", two, "0.weight", 0.5, 0.5),))
    os.utime(two.key.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    (reopened,) = _handles(manager, tmp_path, "two")
    changed = MergePatch("0.weight", reopened, "0.weight", 0.25, 0.75)
    assert PatchSet((changed,)) != PatchSet((patch,))


def test_a_shape_mismatch_names_the_key_and_both_shapes(tmp_path: Path) -> None:
    manager = _manager()
    one, two = _handles(manager, tmp_path, "one", "two")
    wrong = MergePatch("0.weight", two, "2.weight", 0.5, 0.5)  # (16, 8) against (8, 16)
    with pytest.raises(ValueError, match=r"'0.weight': weight shape \(16, 8\) but source "
                                         r"'2.weight' of .* has shape \(8, 16\)"):
        _weights(manager, one, PatchSet((wrong,)))
    with pytest.raises(KeyError, match="no parameter 'nope'"):
        _weights(manager, one, PatchSet((MergePatch("0.weight", two, "nope", 0.5, 0.5),)))
    with pytest.raises(ValueError, match="not finite"):
        MergePatch("0.weight", two, "0.weight", float("nan"), 0.5)


def test_plan_merge_keeps_shared_equal_shapes_and_drops_no_ops(tmp_path: Path) -> None:
    manager = _manager()
    (two,) = _handles(manager, tmp_path, "two")
    target = {"a": (2, 3), "b": (4,), "c": (5,), "only_target": (1,)}
    source = {"a": (2, 3), "b": (5,), "c": (5,), "only_source": (1,)}
    plan = plan_merge(target, source, two, lambda key: (1.0, 0.0) if key == "c" else (0.5, 0.5))
    assert [p.key for p in plan.patches] == ["a"]
    assert plan.mismatched == (("b", (4,), (5,)),) and plan.shared == 3
    skipped = plan_merge(target, source, two, lambda key: (0.5, 0.5), skip=lambda k: k == "a")
    assert [p.key for p in skipped.patches] == ["c"]


def test_parameter_shapes_are_read_empty_or_else_from_the_component(tmp_path: Path) -> None:
    shapes = {"0.weight": (16, 8), "0.bias": (16,), "2.weight": (8, 16), "2.bias": (8,)}
    for opener, loads in ((SeededSource, 0), (LoadOnlySource, 1)):
        manager = _manager(opener=opener)
        (one,) = _handles(manager, tmp_path, "one")
        assert parameter_shapes(one) == shapes
        assert manager.loads == loads
