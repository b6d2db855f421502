"""What history keeps of a finished job, and its one codec.

A ``FinishedJob`` is the executor's typed ``JobOutcome`` plus what the wire shows of it:
ComfyUI's status ``messages`` and the ``error`` object (the ``execution_error`` message data).
The store writes :meth:`FinishedJob.to_json` and reads :meth:`FinishedJob.from_json`; the
dict keys are the ones history rows have always had, so older rows read back too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.jobs import JobOutcome, JobStatus
from server.json_text import to_json


@dataclass
class FinishedJob:
    outcome: JobOutcome
    messages: list[list[Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def status(self) -> JobStatus:
        return self.outcome.status

    def to_dict(self) -> dict[str, Any]:
        return {**self.outcome.to_dict(), "messages": self.messages, "error": self.error}

    def to_json(self) -> str:
        return to_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, job_id: str,
                  status: JobStatus) -> FinishedJob:
        error = data.get("error")
        return cls(JobOutcome.from_dict(data, job_id=job_id, status=status),
                   list(data.get("messages") or []), dict(error) if error else None)

    @classmethod
    def from_json(cls, text: str, *, job_id: str, status: JobStatus) -> FinishedJob:
        return cls.from_dict(json.loads(text), job_id=job_id, status=status)
