"""Errors the executor raises, each carrying what a client needs to show it.

The server maps these to HTTP in one place; the CLI prints them. Problems are
``nodes.api.issues.Issue`` objects (ComfyUI's ``{"type", "message", "details", "extra_info"}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodes.api.issues import Issue, IssueError

InputIssue = Issue
"""One validation problem of one node (ComfyUI's ``node_errors[id].errors[]`` entry)."""


class PromptError(IssueError):
    """The prompt as a whole cannot run (ComfyUI's prompt-level ``error`` object)."""

    def __init__(
        self,
        code: str,
        message: str,
        details: str = "",
        extra_info: dict[str, Any] | None = None,
        node_errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(Issue(code, message, details, extra_info or {}),
                         f"{message} {details}".strip())
        self.node_errors = node_errors or {}


@dataclass(frozen=True)
class NodeFailure:
    """What the first failing node of a job reports."""

    node_id: str
    node_type: str
    exception_type: str
    message: str
    traceback: list[str]
    inputs: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "node_type": self.node_type,
            "exception_type": self.exception_type,
            "exception_message": self.message,
            "traceback": self.traceback,
            "current_inputs": self.inputs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeFailure:
        return cls(
            str(data.get("node_id") or ""), str(data.get("node_type") or ""),
            str(data.get("exception_type", "")), str(data.get("exception_message", "")),
            list(data.get("traceback", [])), dict(data.get("current_inputs", {})),
        )


class JobCancelled(Exception):
    """Raised inside the run loop when a job was cancelled."""
