"""Helpers for the image node tests: a probe node, a fake run context, job runners."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from executor.engine import Engine
from executor.jobs import JobOutcome, JobRequest
from nodes.api import (
    ANY,
    CachePolicy,
    Folders,
    Link,
    ModelFiles,
    ModelStore,
    Node,
    NodeResult,
    RunContext,
    SamplingTable,
    TextSource,
)
from nodes.api.ports import UnwiredModelFiles, UnwiredModelStore, UnwiredTextSource

_job_ids = itertools.count()


class Probe(Node):
    """Test-only output node: records what reaches it (never cached)."""

    output_node = True
    cache = CachePolicy.NEVER
    inputs = (Link("value", ANY),)
    seen: list[Any] = []

    def run(self, ctx: RunContext, value: Any) -> NodeResult:
        type(self).seen.append(value)
        return NodeResult((), {"probed": [ctx.node_id]})


@dataclass
class FakeContext:
    """A RunContext for calling ``Node.run`` directly."""

    folders: Folders | None = None
    node_id: str = "1"
    job_id: str = "job"
    prompt: Mapping[str, Any] = field(default_factory=dict)
    extra_pnginfo: Mapping[str, Any] = field(default_factory=dict)
    models: ModelStore = field(default_factory=UnwiredModelStore)
    model_files: ModelFiles = field(default_factory=UnwiredModelFiles)
    text: TextSource = field(default_factory=UnwiredTextSource)
    sampling: SamplingTable = field(default_factory=SamplingTable)
    log: logging.Logger = logging.getLogger("test")
    notes: dict[str, Any] = field(default_factory=dict)

    def progress(self, value: float, total: float, preview: Any = None) -> None:
        return None

    def note(self, key: str, value: Any) -> None:
        self.notes[key] = value

    def check_cancelled(self) -> None:
        return None


def execute(engine: Engine, prompt: dict[str, Any], **kwargs: Any) -> JobOutcome:
    """Run one job to its end; fails the test with the node's error if the job failed."""
    result = engine.execute(JobRequest(f"job-{next(_job_ids)}", prompt, **kwargs))
    assert result.ok, result.failure
    return result


def probe(engine: Engine, prompt: dict[str, Any], source: str, slot: int = 0) -> Any:
    """The value of ``source``'s output ``slot`` after running ``prompt`` through the engine."""
    Probe.seen = []
    node = {"class_type": "Probe", "inputs": {"value": [source, slot]}}
    execute(engine, {**prompt, "probe": node})
    assert len(Probe.seen) == 1
    return Probe.seen[0]


def image(values: list[list[list[float]]]) -> torch.Tensor:
    """A (1, H, W, C) IMAGE from nested rows of pixels."""
    return torch.tensor(values, dtype=torch.float32)[None]
