"""A stand-in run context for testing a node on its own (no engine, no server).

::

    ctx = StubContext(folders=Folders(tmp / "in", tmp / "out", tmp / "temp"))
    (result,) = MyNode().run(ctx, image=torch.zeros(1, 8, 8, 3), strength=0.5)
    assert ctx.progress_reports == [...]

It records progress reports and notes, and raises :class:`NodeInterrupted` from
``check_cancelled`` / ``progress`` once ``cancel()`` was called. Ports a test does not give are
unwired: using one raises ``PortUnavailableError`` naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nodes.api.context import Folders, NodeInterrupted
from nodes.api.ports import (
    ModelFiles,
    ModelStore,
    TextSource,
    UnwiredModelFiles,
    UnwiredModelStore,
    UnwiredTextSource,
)
from nodes.api.sampling_table import SamplingTable


@dataclass
class StubContext:
    """Implements ``nodes.api.RunContext`` for tests."""

    node_id: str = "1"
    job_id: str = "test-job"
    prompt: Mapping[str, Any] = field(default_factory=dict)
    extra_pnginfo: Mapping[str, Any] = field(default_factory=dict)
    folders: Folders | None = None
    models: ModelStore = field(default_factory=UnwiredModelStore)
    model_files: ModelFiles = field(default_factory=UnwiredModelFiles)
    text: TextSource = field(default_factory=UnwiredTextSource)
    sampling: SamplingTable = field(default_factory=SamplingTable)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("node-test"))
    progress_reports: list[tuple[float, float]] = field(default_factory=list)
    previews: list[Any] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False

    def cancel(self) -> None:
        """The next ``check_cancelled`` or ``progress`` raises ``NodeInterrupted``."""
        self.cancelled = True

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise NodeInterrupted(f"job {self.job_id} was cancelled")

    def progress(self, value: float, total: float, preview: Any = None) -> None:
        self.check_cancelled()
        self.progress_reports.append((value, total))
        if preview is not None:
            self.previews.append(preview)

    def note(self, key: str, value: Any) -> None:
        self.notes[key] = value
