"""What a node sees besides its inputs: the run context, and the schema context of choices,
validation and fingerprints."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nodes.api.ports import ModelFiles, ModelStore, TextSource, UnwiredModelFiles
from nodes.api.sampling_table import SamplingTable


@dataclass(frozen=True)
class Folders:
    """The folders nodes may read from and write to."""

    input: Path
    output: Path
    temp: Path


class NodeInterrupted(Exception):
    """Raised inside a node when its job was cancelled."""


@dataclass(frozen=True, kw_only=True)
class SchemaContext:
    """What input choices (file pickers, sampler names) are computed from, on every request.

    A ``Combo`` whose ``choices`` is a callable gets this; validation checks a value against
    the same choices.
    """

    folders: Folders | None = None
    model_files: ModelFiles = field(default_factory=UnwiredModelFiles)
    sampling: SamplingTable = field(default_factory=SamplingTable)


@dataclass(frozen=True, kw_only=True)
class FingerprintContext(SchemaContext):
    """What ``Node.fingerprint`` and ``Node.validate`` may use: the schema context plus the
    node's id; at validation also the declared type of the output feeding each linked input
    (``input_types``, ComfyUI's ``VALIDATE_INPUTS(input_types=…)``)."""

    node_id: str
    input_types: Mapping[str, Any] = field(default_factory=dict)


class RunContext(Protocol):
    """What a running node may reach: typed ports, nothing global, nothing of the server."""

    node_id: str
    job_id: str
    prompt: Mapping[str, Any]
    extra_pnginfo: Mapping[str, Any]
    folders: Folders | None
    models: ModelStore
    model_files: ModelFiles
    text: TextSource
    sampling: SamplingTable
    log: logging.Logger

    def progress(self, value: float, total: float, preview: Any = None) -> None:
        """Report progress; raises :class:`NodeInterrupted` when the job was cancelled."""

    def check_cancelled(self) -> None:
        """Raise :class:`NodeInterrupted` if the job was cancelled."""

    def note(self, key: str, value: Any) -> None:
        """Record a JSON-like fact in this node's execution record (the job outcome's
        ``notes``), e.g. the LoRA keys a loader could not map. A reused (cached) result keeps
        its notes."""
