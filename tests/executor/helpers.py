"""Small builders for executor tests."""

from __future__ import annotations

import itertools
from typing import Any

from executor.cache import OutputCache, make_cache
from executor.engine import Engine
from executor.events import CollectingSink
from executor.jobs import JobOutcome, JobRequest

CACHE_POLICIES = ["lru", "bytes", "none"]
_job_ids = itertools.count()


def engine_for(registry: Any, policy: str = "lru") -> Engine:
    cache: OutputCache = make_cache(policy, max_entries=10_000, max_bytes=1 << 30)
    return Engine(registry, cache)


def run(engine: Engine, prompt: dict[str, Any], **kwargs: Any
        ) -> tuple[JobOutcome, CollectingSink]:
    sink = CollectingSink()
    result = engine.execute(JobRequest(f"job-{next(_job_ids)}", prompt, **kwargs), sink)
    return result, sink


def chain_prompt() -> dict[str, Any]:
    """Constant → Add → Add → Show, plus a second branch Settings → Show."""
    return {
        "1": {"class_type": "Constant", "inputs": {"value": 2}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 3}},
        "3": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": 10}},
        "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "Settings", "inputs": {"count": 3}},
        "6": {"class_type": "Show", "inputs": {"value": ["5", 0], "label": "settings"}},
    }


def renumber(prompt: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """The same graph with every node id replaced through ``mapping``."""
    out = {}
    for node_id, node in prompt.items():
        inputs = {
            k: [mapping[v[0]], v[1]] if isinstance(v, list) else v
            for k, v in node["inputs"].items()
        }
        out[mapping[node_id]] = {"class_type": node["class_type"], "inputs": inputs}
    return out
