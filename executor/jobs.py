"""What a job asks for and what it reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.errors import NodeFailure
from executor.plan import Reason


@dataclass(frozen=True)
class JobRequest:
    """One execution request: an API-format prompt plus how to run it."""

    job_id: str
    prompt: Mapping[str, Any]
    targets: tuple[str, ...] | None = None
    strict: bool = False
    force: frozenset[str] = frozenset()
    extra_pnginfo: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class JobResult:
    """The outcome: UI outputs of every output node (reused ones too) and why each node ran."""

    job_id: str
    status: str  # "success" | "failed" | "interrupted"
    outputs: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    summaries: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, Reason] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    failure: NodeFailure | None = None
    node_errors: dict[str, Any] = field(default_factory=dict)
    interrupted_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"


def summarize(value: Any, limit: int = 120) -> str:
    """A short description of a value: its own ``summary()``, its shape, or a cut repr."""
    describe = getattr(value, "summary", None)
    if callable(describe):
        return str(describe())[:limit]
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__}{tuple(shape)}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
