"""Errors the executor raises, each carrying what a client needs to show it.

The server maps these to HTTP in one place; the CLI prints them. Shapes follow ComfyUI's
``{"type", "message", "details", "extra_info"}`` error objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class PromptError(Exception):
    """The prompt as a whole cannot run (ComfyUI's prompt-level ``error`` object)."""

    def __init__(
        self,
        code: str,
        message: str,
        details: str = "",
        extra_info: dict[str, Any] | None = None,
        node_errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{message} {details}".strip())
        self.code = code
        self.message = message
        self.details = details
        self.extra_info = extra_info or {}
        self.node_errors = node_errors or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.code,
            "message": self.message,
            "details": self.details,
            "extra_info": self.extra_info,
        }


@dataclass(frozen=True)
class InputIssue:
    """One validation problem of one node (ComfyUI's ``node_errors[id].errors[]`` entry)."""

    code: str
    message: str
    details: str
    extra_info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.code,
            "message": self.message,
            "details": self.details,
            "extra_info": self.extra_info,
        }


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


class JobCancelled(Exception):
    """Raised inside the run loop when a job was cancelled."""
