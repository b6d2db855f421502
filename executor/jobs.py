"""What a job asks for (``JobRequest``) and how it ended (``JobOutcome``, with one codec).

``JobStatus`` is the one status vocabulary: the executor ends a job ``success``, ``failed`` or
``interrupted``; a queue adds ``pending``, ``running``, ``cancelled`` (removed while pending) and
``lost`` (the process died while it ran). Wire words (ComfyUI's history, the jobs API) are
mapped from it in one table on the server side.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.errors import NodeFailure
from executor.plan import Reason


class JobStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    LOST = "lost"

    def __str__(self) -> str:  # f"{status}" is the word on every Python version
        return self.value

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.PENDING, JobStatus.RUNNING)


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
class JobOutcome:
    """How a job ended: UI outputs of every output node (reused ones too), why each node ran,
    per-node timings and notes, and the failure. Serialisable with :meth:`to_dict` /
    :meth:`from_dict`."""

    job_id: str
    status: JobStatus = JobStatus.SUCCESS
    outputs: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    summaries: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, Reason] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    failure: NodeFailure | None = None
    node_errors: dict[str, Any] = field(default_factory=dict)
    interrupted_at: str | None = None
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # why the process running the job died (exit status or signal, and the node), ``None``
    # when it did not: the queue's poison-job protection counts these
    crash: str | None = None
    # the process's resident-set peak while the job ran (its high-water mark is reset when a
    # job starts; jobs run one at a time per process), ``None`` where unknown
    peak_rss_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is JobStatus.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the keys are those history rows have always had."""
        return {
            "job_id": self.job_id, "status": self.status.value, "outputs": self.outputs,
            "summaries": self.summaries,
            "reasons": {k: v.value for k, v in self.reasons.items()},
            "executed": self.executed, "cached": self.cached, "timings": self.timings,
            "failure": None if self.failure is None else self.failure.to_dict(),
            "node_errors": self.node_errors, "interrupted_at": self.interrupted_at,
            "notes": self.notes, "crash": self.crash, "peak_rss_bytes": self.peak_rss_bytes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, job_id: str = "",
                  status: JobStatus | None = None) -> JobOutcome:
        """Reads :meth:`to_dict`'s form, and rows written before it (missing keys: empty)."""
        failure = data.get("failure")
        return cls(
            job_id=str(data.get("job_id") or job_id),
            status=status or JobStatus(data.get("status", JobStatus.SUCCESS.value)),
            outputs=dict(data.get("outputs") or {}),
            summaries=dict(data.get("summaries") or {}),
            reasons={k: Reason(v) for k, v in (data.get("reasons") or {}).items()},
            executed=list(data.get("executed") or []), cached=list(data.get("cached") or []),
            timings=dict(data.get("timings") or {}),
            failure=None if not failure else NodeFailure.from_dict(failure),
            node_errors=dict(data.get("node_errors") or {}),
            interrupted_at=data.get("interrupted_at"),
            notes={k: dict(v) for k, v in (data.get("notes") or {}).items()},
            crash=data.get("crash"),
            peak_rss_bytes=data.get("peak_rss_bytes"),
        )


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
