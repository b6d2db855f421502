"""Reading a ``POST /prompt`` body (or ``/api/run``) into what the queue stores.

Accepted: ComfyUI's body (``prompt``, ``client_id``, ``extra_data``, ``prompt_id``, ``number``,
``front``, ``partial_execution_targets``), plus ``strict``; ``prompt`` (or the whole body) may
be a UI-format workflow, converted with the registry. Secrets a client sends in ``extra_data``
(``*_comfy_org`` keys and anything named like a token, key, secret or password) are dropped
here and never stored; ``client_id`` is kept apart from the public ``extra_data``.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from executor.jobs import JobStatus
from executor.ui_workflow import WorkflowConversionError, convert_ui_workflow, is_ui_workflow
from nodes.api import Registry
from server.errors import BadRequestError
from server.job_store import JobRecord, now_ms

logger = logging.getLogger(__name__)
_SECRET = re.compile(r"(_comfy_org$|token|secret|password|passwd|api_?key|credential)", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ID_LENGTH = 200


@dataclass
class Submission:
    record: JobRecord
    number: float | None
    front: bool


def _bad(code: str, message: str, details: str = "") -> BadRequestError:
    return BadRequestError(code, message, details)


def _prompt_id(body: dict[str, Any]) -> str:
    raw = body.get("prompt_id")
    if raw is None or raw == "":
        return str(uuid.uuid4())
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise _bad("invalid_prompt_id", "prompt_id must be a string",
                   f"got {type(raw).__name__}")
    text = str(raw)
    if len(text) > MAX_ID_LENGTH or _CONTROL.search(text):
        raise _bad("invalid_prompt_id", "prompt_id is too long or has control characters",
                   f"at most {MAX_ID_LENGTH} printable characters")
    return text


def _number(body: dict[str, Any]) -> float | None:
    raw = body.get("number")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise _bad("invalid_number", "number must be a number", f"got {type(raw).__name__}")
    try:
        value = float(raw)
    except OverflowError:  # an int beyond float's range
        raise _bad("invalid_number", "number must be finite", repr(raw)[:100]) from None
    except ValueError:
        raise _bad("invalid_number", "number must be a number", repr(raw)[:100]) from None
    if not math.isfinite(value):
        raise _bad("invalid_number", "number must be finite", repr(raw)[:100])
    return value


def _targets(body: dict[str, Any]) -> list[str] | None:
    raw = body.get("partial_execution_targets")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(
            isinstance(t, (str, int)) and not isinstance(t, bool) for t in raw):
        raise _bad("invalid_targets", "partial_execution_targets must be a list of node ids")
    return [str(t) for t in raw]


def public_extra_data(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """(extra_data without client_id and secrets, names of the dropped secret keys)."""
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        raise _bad("invalid_extra_data", "extra_data must be an object",
                   f"got {type(raw).__name__}")
    dropped = [k for k in raw if _SECRET.search(str(k))]
    kept = {k: v for k, v in raw.items() if k != "client_id" and k not in dropped}
    return kept, dropped


def _client_id(body: dict[str, Any], extra: Any) -> str | None:
    raw = body.get("client_id")
    if raw is None and isinstance(extra, dict):
        raw = extra.get("client_id")
    return raw if isinstance(raw, str) and 0 < len(raw) <= MAX_ID_LENGTH else None


def _workflow_id(extra: dict[str, Any]) -> str | None:
    info = extra.get("extra_pnginfo")
    workflow = info.get("workflow") if isinstance(info, dict) else None
    wid = workflow.get("id") if isinstance(workflow, dict) else None
    return wid if isinstance(wid, str) else None


def convert_workflow(workflow: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """``convert_ui_workflow``; a malformed workflow that crashes it is still a 400.

    The converter raises ``WorkflowConversionError`` for the problems it knows; on some
    malformed shapes (found by fuzzing) it raises TypeError and friends instead. Those are a
    client's bad input, so they are answered 400 here (and logged) until the converter checks
    them itself.
    """
    try:
        return convert_ui_workflow(workflow, registry)
    except (TypeError, KeyError, IndexError, AttributeError, ValueError) as exc:
        if isinstance(exc, WorkflowConversionError):
            raise
        logger.warning("UI workflow conversion crashed on malformed input: %r", exc)
        raise BadRequestError("invalid_workflow", "The UI workflow is malformed",
                              f"{type(exc).__name__}: {exc}"[:300]) from None


_REQUEST_KEYS = ("client_id", "extra_data", "prompt_id", "number", "front",
                 "partial_execution_targets", "strict")


def _api_prompt(body: dict[str, Any], registry: Registry, extra: dict[str, Any]) -> Any:
    prompt = body.get("prompt")
    if prompt is None and is_ui_workflow(body):  # the body is the workflow itself
        prompt = {k: v for k, v in body.items() if k not in _REQUEST_KEYS}
    if prompt is None:
        raise BadRequestError("no_prompt", "No prompt provided", "No prompt provided")
    if is_ui_workflow(prompt):
        info = extra.setdefault("extra_pnginfo", {})
        if isinstance(info, dict):
            info.setdefault("workflow", prompt)
        return convert_workflow(prompt, registry)
    if not isinstance(prompt, dict):
        raise BadRequestError("invalid_prompt", "The prompt must be an object of nodes",
                              f"got {type(prompt).__name__}")
    return prompt


def read_submission(body: dict[str, Any], registry: Registry, *, strict: bool = False
                    ) -> Submission:
    extra, dropped = public_extra_data(body.get("extra_data"))
    if dropped:
        logger.debug("dropped secret extra_data keys %s (never stored)", dropped)
    prompt = _api_prompt(body, registry, extra)
    extra["create_time"] = now_ms()
    record = JobRecord(
        prompt_id=_prompt_id(body), number=0, status=JobStatus.PENDING, prompt=prompt,
        extra_data=extra, outputs_to_execute=[],
        client_id=_client_id(body, body.get("extra_data")), targets=_targets(body),
        strict=strict or body.get("strict") is True, workflow_id=_workflow_id(extra),
    )
    return Submission(record, _number(body), bool(body.get("front")))
