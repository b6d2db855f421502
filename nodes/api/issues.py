"""One issue type for every problem a client is shown: an input's value, a node, a prompt, a
request. Its wire form is ComfyUI's error object ``{"type", "message", "details",
"extra_info"}``; the executor and the server add where it happened (node errors, HTTP status)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """A problem with a stable snake_case ``code`` (ComfyUI's error ``type``)."""

    code: str
    message: str
    details: str = ""
    extra_info: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.code, "message": self.message, "details": self.details,
                "extra_info": dict(self.extra_info)}


class IssueError(Exception):
    """An exception that carries an :class:`Issue` (the executor's and the server's errors)."""

    def __init__(self, issue: Issue, text: str | None = None) -> None:
        if text is None:
            text = f"{issue.message}: {issue.details}" if issue.details else issue.message
        super().__init__(text)
        self.issue = issue

    @property
    def code(self) -> str:
        return self.issue.code

    @property
    def message(self) -> str:
        return self.issue.message

    @property
    def details(self) -> str:
        return self.issue.details

    @property
    def extra_info(self) -> dict[str, Any]:
        return dict(self.issue.extra_info)

    def to_dict(self) -> dict[str, Any]:
        return self.issue.to_dict()
