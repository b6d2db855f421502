"""The one place where errors become HTTP responses.

Domain errors (``server.errors``), the executor's ``PromptError``, workflow conversion errors and
path-containment refusals get their status and a ComfyUI-shaped body; a damaged job record or
job database a structured 500 (``job_record_damaged``, ``job_store_damaged``). Anything else
is a 500 with a request id; the traceback goes to the log only. Absolute server paths in an
error body are rewritten (``server.redact``).
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from executor.errors import PromptError
from executor.ui_workflow import WorkflowConversionError
from nodes.api.issues import Issue
from nodes.api.paths import PathRefusedError
from server.errors import ApiError
from server.job_rows import DamagedRecordError
from server.redact import NO_REDACTION
from server.state import REDACTOR, REQUEST_ID

logger = logging.getLogger(__name__)
DB_CHECK_HINT = "the operator can run 'latentgraph db check' and 'latentgraph db backup'"


def error_body(code: str, message: str, details: str = "",
               extra_info: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": Issue(code, message, details, extra_info or {}).to_dict(),
            "node_errors": {}}


def _conversion_body(exc: WorkflowConversionError) -> dict[str, Any]:
    extra = {k: v for k, v in vars(exc).items() if isinstance(v, (str, int, type(None)))}
    return error_body("invalid_workflow", "The UI workflow cannot be converted", str(exc), extra)


def _store_fault(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """A damaged job (500 for that job only) or a damaged store: structured, with the fix."""
    if isinstance(exc, DamagedRecordError):
        logger.warning("%s", exc)
        return 500, error_body("job_record_damaged", "This job's stored record is damaged",
                               f"{exc}; {DB_CHECK_HINT}")
    if isinstance(exc, sqlite3.DatabaseError):
        logger.error("the job database failed: %s", exc)
        return 500, error_body("job_store_damaged", "The job database cannot be read or "
                               "written", f"{exc}; {DB_CHECK_HINT}")
    return None


def _known(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    if isinstance(exc, ApiError):
        return exc.status, exc.body()
    if isinstance(exc, PromptError):
        return 400, {"error": exc.to_dict(), "node_errors": exc.node_errors}
    if isinstance(exc, WorkflowConversionError):
        return 400, _conversion_body(exc)
    if isinstance(exc, PathRefusedError):
        return 403, error_body("path_forbidden", "The path is not allowed", str(exc))
    return _store_fault(exc)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = uuid.uuid4().hex[:16]
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        body = error_body("http_error", exc.reason, exc.text or "")
        response = web.json_response(body, status=exc.status)
        for name in ("Allow", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
    except Exception as exc:
        known = _known(exc)
        if known is None:
            logger.exception("request %s %s %s failed", request_id, request.method,
                             request.path)
            body = error_body("server_error", "Internal server error",
                              f"request id {request_id}", {"request_id": request_id})
            known = 500, body
        redactor = request.app.get(REDACTOR, NO_REDACTION)
        response = web.json_response(redactor.value(known[1]), status=known[0])
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    return response
