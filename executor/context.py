"""The run context handed to each node: progress, cancellation, folders, ports, job metadata."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.events import EventSink, NodeProgress
from nodes.api import Folders, ModelFiles, ModelStore, NodeInterrupted, SamplingTable, TextSource


@dataclass
class NodeRunContext:
    """Implements ``nodes.api.RunContext`` for one node of one job."""

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
    cancel_event: threading.Event
    sink: EventSink
    notes: dict[str, Any] = field(default_factory=dict)

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise NodeInterrupted(f"job {self.job_id} was cancelled")

    def note(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(f"node {self.node_id}: a note's key must be a non-empty string, "
                             f"got {key!r}")
        self.notes[key] = value

    def progress(self, value: float, total: float, preview: Any = None) -> None:
        self.check_cancelled()
        self.sink(NodeProgress(self.job_id, self.node_id, value, total, preview))
