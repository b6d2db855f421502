"""The wire between the server and its worker process: plain messages, one codec per kind.

Every message is a ``dict`` of plain data (str, numbers, lists, tuples, dicts, bytes) with a
``"kind"``, sent over a ``multiprocessing`` pipe. Nothing else crosses: no tensors, no node
classes, no PIL images. A preview is encoded to ``(format, bytes)`` in the worker before it is
sent; the server frames those bytes as they are.

Server → worker::

    {"kind": "run", "request": <JobRequest>}          run one job (one at a time)
    {"kind": "cancel", "job_id": str}                 cooperative cancel of the running job
    {"kind": "free", "unload_models": bool, "free_memory": bool}
    {"kind": "devices", "id": int}                    answered by a "reply" with the same id
    {"kind": "stop"}                                  exit now (sent when no job runs)

Worker → server (the messages of one job arrive in the order they were made, its end last)::

    {"kind": "ready", "pid": int, "devices": list}    the worker has built its engine
    {"kind": "fatal", "error": str}                   it could not (then it exits)
    {"kind": "reply", "id": int, "value": Any}
    {"kind": "event", "type": str, "fields": dict}    an ``executor.events`` event
    {"kind": "outcome", "outcome": <JobOutcome.to_dict()>}
    {"kind": "prompt_error", "issue": dict, "node_errors": dict}   re-validation refused it
    {"kind": "job_error", "type": str, "message": str, "traceback": list}  outside any node
    {"kind": "message", "event": str, "data": Any, "sid": str | None}  a custom websocket
        message (a node pack's ``send_sync``), to one client (sid) or all

A Ray actor (``executor.ray_actor``) speaks the same messages: its job's ``event`` messages and
end come through a Ray streaming generator instead of the pipe, preceded by one
``{"kind": "file", "subfolder": str, "filename": str, "data": bytes}`` per output file.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from executor.errors import PromptError
from executor.events import (
    Event,
    JobFailed,
    JobInterrupted,
    JobStarted,
    JobSucceeded,
    NodeFinished,
    NodeOutput,
    NodeProgress,
    NodesCached,
    NodeStarted,
)
from executor.jobs import JobRequest
from nodes.api import ClientImage

Message = dict[str, Any]
EncodedPreview = tuple[str, bytes] | ClientImage
PreviewEncoder = Callable[[Any], EncodedPreview | None]
"""Turns what a node passed to ``ctx.progress`` as a preview into ``(format, bytes)`` (a
``ClientImage`` into one holding its PNG bytes)."""

EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in (
    JobStarted, NodesCached, NodeStarted, NodeProgress, NodeOutput, NodeFinished, JobSucceeded,
    JobFailed, JobInterrupted)}


class WireError(ValueError):
    """A message that does not follow this module's shapes."""


def encoded_bytes_only(preview: Any) -> EncodedPreview | None:
    """The preview encoder of a worker without an image library: already-encoded previews
    (``("JPEG"|"PNG", bytes, …)``, ``ClientImage`` of PNG bytes) pass, anything else is
    dropped."""
    if isinstance(preview, ClientImage):
        return preview if preview.encoded is not None else None
    if isinstance(preview, tuple) and len(preview) >= 2 and isinstance(preview[1], bytes):
        return str(preview[0]).upper(), preview[1]
    return None


def request_to_wire(request: JobRequest) -> Message:
    return {"job_id": request.job_id, "prompt": dict(request.prompt),
            "targets": None if request.targets is None else list(request.targets),
            "strict": request.strict, "force": sorted(request.force),
            "extra_pnginfo": dict(request.extra_pnginfo)}


def request_from_wire(data: Mapping[str, Any]) -> JobRequest:
    targets = data.get("targets")
    return JobRequest(str(data["job_id"]), dict(data["prompt"]),
                      None if targets is None else tuple(str(t) for t in targets),
                      bool(data.get("strict")), frozenset(data.get("force") or ()),
                      dict(data.get("extra_pnginfo") or {}))


def event_to_wire(event: Event, encode_preview: PreviewEncoder) -> Message:
    """``event`` as a message; a progress preview becomes ``(format, bytes)`` or ``None``."""
    name = type(event).__name__
    if EVENT_TYPES.get(name) is not type(event):
        raise WireError(f"event type {name!r} cannot cross the wire; known: {sorted(EVENT_TYPES)}")
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    if isinstance(event, NodeProgress) and event.preview is not None:
        fields["preview"] = encode_preview(event.preview)
    return {"kind": "event", "type": name, "fields": fields}


def event_from_wire(message: Mapping[str, Any]) -> Event:
    cls = EVENT_TYPES.get(str(message.get("type")))
    if cls is None:
        raise WireError(f"unknown event type {message.get('type')!r}")
    return cls(**message["fields"])


def prompt_error_to_wire(exc: PromptError) -> Message:
    return {"kind": "prompt_error", "issue": exc.to_dict(), "node_errors": exc.node_errors}


def prompt_error_from_wire(message: Mapping[str, Any]) -> PromptError:
    issue = message["issue"]
    return PromptError(str(issue["type"]), str(issue["message"]), str(issue.get("details", "")),
                       dict(issue.get("extra_info") or {}), dict(message.get("node_errors") or {}))


def job_error_to_wire(exc: BaseException) -> Message:
    """A job's failure outside any node (the worker's log has the rest)."""
    return {"kind": "job_error", "type": type(exc).__name__, "message": str(exc),
            "traceback": traceback.format_exception(type(exc), exc, exc.__traceback__)}
