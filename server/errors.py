"""Domain errors of the server. ``server.middleware`` maps them (and the executor's) to HTTP.

Handlers raise these; they never build error responses themselves.
"""

from __future__ import annotations

from typing import Any

from nodes.api.issues import Issue, IssueError


class ApiError(IssueError):
    """An error a client caused, answered with ``status`` and a ComfyUI-shaped error object."""

    status = 400

    def __init__(
        self,
        code: str,
        message: str,
        details: str = "",
        extra_info: dict[str, Any] | None = None,
        *,
        node_errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(Issue(code, message, details, extra_info or {}))
        self.node_errors = node_errors or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.issue.to_dict(), "node_errors": self.node_errors}


class BadRequestError(ApiError):
    status = 400


class UnauthorizedError(ApiError):
    status = 401


class ForbiddenError(ApiError):
    status = 403


class NotFoundError(ApiError):
    status = 404


class ConflictError(ApiError):
    status = 409


class PayloadTooLargeError(ApiError):
    status = 413


class UnavailableError(ApiError):
    status = 503


class DuplicateJobError(BadRequestError):
    """A client-chosen prompt_id that already names a job."""

    def __init__(self, prompt_id: str) -> None:
        super().__init__(
            "duplicate_prompt_id", "A job with this prompt_id already exists",
            f"prompt_id {prompt_id!r} is taken; omit prompt_id to get a fresh one",
            {"prompt_id": prompt_id},
        )
