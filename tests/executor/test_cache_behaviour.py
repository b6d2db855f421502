"""Cache behaviour over every policy: hits, misses, reasons, id independence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from executor.plan import Reason
from tests.executor.helpers import CACHE_POLICIES, chain_prompt, engine_for, renumber, run
from tests.executor.stub_nodes import Runs, make_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runs() -> Runs:
    return Runs()


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_resubmit_runs_nothing_and_reports_outputs(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    first, _ = run(engine, chain_prompt())
    assert first.ok and runs.total == 6
    runs.clear()
    second, sink = run(engine, chain_prompt())
    assert second.ok
    assert second.outputs == first.outputs == {
        "4": {"numbers": [15.0], "labels": [""]},
        "6": {"numbers": [4.5], "labels": ["settings"]},
    }
    if policy == "none":
        assert runs.total == 6
        assert set(second.reasons.values()) == {Reason.CACHE_DISABLED}
    else:
        assert runs.total == 0 and second.executed == []
        assert second.reasons == {n: Reason.CACHED for n in chain_prompt()}
        assert sorted(second.cached) == sorted(chain_prompt())


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_changing_one_widget_reruns_exactly_it_and_descendants(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    run(engine, chain_prompt())
    runs.clear()
    changed = chain_prompt()
    changed["2"]["inputs"]["b"] = 4
    result, _ = run(engine, changed)
    assert result.outputs["4"] == {"numbers": [16.0], "labels": [""]}
    if policy == "none":
        assert runs.total == 6
        return
    assert sorted(runs.by_node) == ["2", "3", "4"]
    assert result.reasons["2"] == Reason.INPUTS_CHANGED
    assert result.reasons["3"] == Reason.INPUTS_CHANGED
    assert result.reasons["1"] == Reason.CACHED and result.reasons["6"] == Reason.CACHED


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_renumbering_every_node_still_hits(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    run(engine, chain_prompt())
    runs.clear()
    mapping = {k: str(100 + int(k) * 7) for k in chain_prompt()}
    result, _ = run(engine, renumber(chain_prompt(), mapping))
    assert result.outputs[mapping["4"]] == {"numbers": [15.0], "labels": [""]}
    assert runs.total == (6 if policy == "none" else 0)


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_identical_subgraph_in_another_workflow_hits(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    run(engine, chain_prompt())
    runs.clear()
    other = {
        "a": {"class_type": "Constant", "inputs": {"value": 2.0}},
        "b": {"class_type": "Add", "inputs": {"a": ["a", 0], "b": 3}},
        "c": {"class_type": "Add", "inputs": {"a": ["b", 0], "b": 10}},
        "d": {"class_type": "AsyncDouble", "inputs": {"a": ["c", 0]}},
        "e": {"class_type": "Show", "inputs": {"value": ["d", 0], "label": "x"}},
    }
    result, _ = run(engine, other)
    assert result.outputs["e"]["numbers"] == [30.0]
    if policy == "none":
        assert runs.total == 5
    else:
        assert sorted(runs.by_node) == ["d", "e"]
        assert result.reasons["c"] == Reason.CACHED


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_changed_fingerprint_reruns(runs: Runs, policy: str) -> None:
    external = {"x": 1}
    engine = engine_for(make_registry(runs, external), policy)
    prompt = {
        "1": {"class_type": "Fingerprinted", "inputs": {"name": "x"}},
        "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}},
    }
    run(engine, prompt)
    runs.clear()
    same, _ = run(engine, prompt)
    assert runs.total == (2 if policy == "none" else 0)
    runs.clear()
    external["x"] = 2
    changed, _ = run(engine, prompt)
    assert changed.outputs["2"]["numbers"] == [2.0]
    assert runs.total == 2
    if policy != "none":
        assert changed.reasons["1"] == Reason.FINGERPRINT_CHANGED


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_omitted_input_equals_default_and_int_float_forms(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    explicit = {"1": {"class_type": "Settings", "inputs": {"count": 2, "scale": 1.5,
                                                           "flag": False, "mode": "fast",
                                                           "text": "hi"}},
                "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    implicit = {"1": {"class_type": "Settings", "inputs": {"count": "2.0", "scale": "1.5",
                                                           "flag": "false"}},
                "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    run(engine, explicit)
    runs.clear()
    run(engine, implicit)
    assert runs.total == (2 if policy == "none" else 0)


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_never_cached_node_and_descendants_always_run(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    prompt = {
        "1": {"class_type": "Constant", "inputs": {"value": 1}},
        "2": {"class_type": "Never", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
    }
    run(engine, prompt)
    runs.clear()
    result, _ = run(engine, prompt)
    expected = ["1", "2", "3"] if policy == "none" else ["2", "3"]
    assert sorted(runs.by_node) == expected
    assert result.reasons["2"] == Reason.NOT_CACHEABLE


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_node_reading_its_id_is_keyed_with_it(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    prompt = {"7": {"class_type": "WhoAmI", "inputs": {}}}
    result, _ = run(engine, prompt, targets=("7",))
    assert result.summaries["7"] == ["'7'"]
    runs.clear()
    moved, _ = run(engine, {"8": {"class_type": "WhoAmI", "inputs": {}}}, targets=("8",))
    assert moved.summaries["8"] == ["'8'"] and runs.total == 1


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_prompt_metadata_does_not_enter_the_key(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    run(engine, chain_prompt(), extra_pnginfo={"workflow": {"v": 1}})
    runs.clear()
    other_meta = chain_prompt()
    other_meta["4"]["_meta"] = {"title": "renamed"}
    run(engine, other_meta, extra_pnginfo={"workflow": {"v": 2}})
    assert runs.total == (6 if policy == "none" else 0)


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_force_reruns_chosen_node(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    run(engine, chain_prompt())
    runs.clear()
    result, _ = run(engine, chain_prompt(), force=frozenset({"4"}))
    assert result.reasons["4"] == Reason.FORCED
    assert runs.by_node["4"] == 1
    assert (runs.total == 1) is (policy != "none")


@pytest.mark.parametrize("policy", CACHE_POLICIES)
def test_failed_run_does_not_poison_the_cache(runs: Runs, policy: str) -> None:
    engine = engine_for(make_registry(runs), policy)
    failing = {
        "1": {"class_type": "Constant", "inputs": {"value": 1}},
        "2": {"class_type": "Fail", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
    }
    first, _ = run(engine, failing)
    assert first.status == "failed"
    runs.clear()
    second, _ = run(engine, failing)
    assert second.status == "failed" and runs.by_node["2"] == 1
    assert len(engine.cache) == (0 if policy == "none" else 1)  # only the Constant's result


def test_seed_sized_ints_key_identically() -> None:
    runs = Runs()
    engine = engine_for(make_registry(runs))
    big = 2**64 - 1
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 0}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": big}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    run(engine, prompt)
    runs.clear()
    prompt["2"]["inputs"]["b"] = str(big)
    result, _ = run(engine, prompt)
    assert runs.total == 0 and result.outputs["3"]["numbers"] == [float(big)]


_KEY_SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
from executor.plan import compute_keys
from executor.validate import validate_prompt
from nodes.api import FingerprintContext
from tests.executor.helpers import chain_prompt
from tests.executor.stub_nodes import Runs, make_registry
vp = validate_prompt(chain_prompt(), make_registry(Runs()))
keys, _ = compute_keys(vp, lambda n: FingerprintContext(node_id=n))
print(json.dumps(keys, sort_keys=True))
"""


def test_keys_are_equal_across_processes() -> None:
    script = _KEY_SCRIPT.format(root=str(ROOT))
    outs = []
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}, cwd=ROOT,
        )
        outs.append(json.loads(proc.stdout))
    assert outs[0] == outs[1]
    assert len(set(outs[0].values())) == 6


def test_byte_budget_counts_nested_values() -> None:
    from executor.cache import ByteBudgetCache, CacheEntry, outputs_nbytes

    class Sized:
        def __init__(self, nbytes: int) -> None:
            self.nbytes = nbytes

    outputs = (((Sized(300), Sized(200)),), (Sized(100),))  # a tuple value, then a plain one
    assert outputs_nbytes(outputs) == 600
    cache = ByteBudgetCache(1000)
    cache.put("a", CacheEntry(outputs, None, 600))
    cache.put("b", CacheEntry(outputs, None, 600))
    assert "a" not in cache and "b" in cache and cache.used == 600
