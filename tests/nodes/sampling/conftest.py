"""Fixtures of the sampling node tests: a tiny SD1.5 model with its conditioning, loaded through
the real loader and text-encode nodes, and a recording run context."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from diffusion.guidance import Cond
from executor.engine import Engine
from executor.jobs import JobRequest
from nodes.api import ModelFiles, ModelStore, NodeInterrupted, SamplingTable, TextSource
from nodes.payloads import DiffusionModel
from tests.workflows.support import Workspace, cached_output, tiny_checkpoints, workspace

__all__ = ["Ctx", "Loaded", "loaded", "tiny_checkpoints", "workspace"]

PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
}


@dataclass
class Ctx:
    """A run context recording progress; ``cancel_after`` raises on that many reports."""

    models: ModelStore
    model_files: ModelFiles
    text: TextSource
    sampling: SamplingTable
    node_id: str = "3"
    job_id: str = "job"
    prompt: dict[str, Any] = field(default_factory=dict)
    extra_pnginfo: dict[str, Any] = field(default_factory=dict)
    folders: Any = None
    log: logging.Logger = logging.getLogger("test")
    notes: dict[str, Any] = field(default_factory=dict)
    reports: list[tuple[float, float, Any]] = field(default_factory=list)
    cancel_after: int | None = None

    def progress(self, value: float, total: float, preview: Any = None) -> None:
        self.check_cancelled()
        self.reports.append((value, total, preview))

    def note(self, key: str, value: Any) -> None:
        self.notes[key] = value

    def check_cancelled(self) -> None:
        if self.cancel_after is not None and len(self.reports) >= self.cancel_after:
            raise NodeInterrupted("cancelled by the test")


@dataclass
class Loaded:
    engine: Engine
    model: DiffusionModel
    positive: tuple[Cond, ...]
    negative: tuple[Cond, ...]

    def ctx(self, **kwargs: Any) -> Ctx:
        ports = self.engine.ports
        return Ctx(ports.models, ports.model_files, ports.text, self.engine.registry.samplers,
                   **kwargs)


@pytest.fixture
def loaded(workspace: Workspace) -> Loaded:
    engine = workspace.engine()
    result = engine.execute(JobRequest("load", PROMPT, ("4", "6", "7")))
    assert result.ok, result.failure
    return Loaded(engine, cached_output(engine, PROMPT, "4"), cached_output(engine, PROMPT, "6"),
                  cached_output(engine, PROMPT, "7"))
