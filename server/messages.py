"""Executor events → ComfyUI websocket messages, and the per-job record kept for history.

One :class:`JobMessages` per running job, used on the event loop. Addressing follows ComfyUI:
execution messages go to the job's client; with no client, ``progress``, ``progress_state``
and ``execution_interrupted`` are broadcast and the rest are not sent. Unlike ComfyUI,
``progress_state`` of a job *with* a client goes to that client only: other clients learn
nothing of a job that is not theirs (its node ids and progress) beyond the queue ``status``.
The terminal message (success, error, interrupted) is held back until the history entry is
written (see ``server.worker``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Preview:
    """An encoded preview image, ready to be framed for a client."""

    node_id: str
    image_type: str  # "image/jpeg" | "image/png"
    data: bytes


@dataclass(frozen=True)
class Outbound:
    """One message: ``to_all`` broadcasts, otherwise it goes to ``client_id`` (if any)."""

    type: str
    data: dict[str, Any]
    to_all: bool = False
    preview: Preview | None = None


def _int(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


class JobMessages:
    """Translates one job's events; remembers what history records."""

    def __init__(self, prompt_id: str, client_id: str | None) -> None:
        self.prompt_id = prompt_id
        self.client_id = client_id
        self.history_messages: list[list[Any]] = []
        self.nodes: dict[str, dict[str, Any]] = {}
        self.last_node: str | None = None
        self.outputs: dict[str, Any] = {}
        self.terminal: Outbound | None = None

    def _direct(self, kind: str, data: dict[str, Any], *, fallback_all: bool = False
                ) -> list[Outbound]:
        if self.client_id is not None:
            return [Outbound(kind, data)]
        return [Outbound(kind, data, to_all=True)] if fallback_all else []

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        self.history_messages.append([kind, data])

    def _state(self, node_id: str, state: str, value: float = 0, maximum: float = 1
               ) -> list[Outbound]:
        self.nodes[node_id] = {
            "value": _int(value), "max": _int(maximum), "state": state, "node_id": node_id,
            "prompt_id": self.prompt_id, "display_node_id": node_id, "parent_node_id": None,
            "real_node_id": node_id,
        }
        return self._direct("progress_state", {"prompt_id": self.prompt_id,
                                               "nodes": dict(self.nodes)}, fallback_all=True)

    def translate(self, event: Event) -> list[Outbound]:
        """Messages to send now for ``event`` (terminal ones are kept in ``terminal``)."""
        pid, ts = self.prompt_id, event.timestamp
        if isinstance(event, JobStarted):
            data: dict[str, Any] = {"prompt_id": pid, "timestamp": ts}
            self._record("execution_start", data)
            return self._direct("execution_start", data)
        if isinstance(event, NodesCached):
            data = {"nodes": list(event.node_ids), "prompt_id": pid, "timestamp": ts}
            self._record("execution_cached", data)
            return self._direct("execution_cached", data)
        if isinstance(event, NodeStarted):
            self.last_node = event.node_id
            executing = {"node": event.node_id, "display_node": event.node_id, "prompt_id": pid}
            return [*self._direct("executing", executing), *self._state(event.node_id, "running")]
        if isinstance(event, NodeProgress):
            return self._progress(event)
        if isinstance(event, NodeOutput):
            self.outputs[event.node_id] = event.ui
            data = {"node": event.node_id, "display_node": event.node_id, "output": event.ui,
                    "prompt_id": pid}
            return self._direct("executed", data)
        if isinstance(event, NodeFinished):
            return self._state(event.node_id, "finished")
        return self._ending(event)

    def _progress(self, event: NodeProgress) -> list[Outbound]:
        data = {"value": _int(event.value), "max": _int(event.max), "prompt_id": self.prompt_id,
                "node": event.node_id}
        out = [*self._direct("progress", data, fallback_all=True),
               *self._state(event.node_id, "running", event.value, event.max)]
        if isinstance(event.preview, Preview):
            out.append(Outbound("preview", {"node_id": event.node_id, "prompt_id":
                                            self.prompt_id}, preview=event.preview))
        return out

    def _ending(self, event: Event) -> list[Outbound]:
        pid, ts = self.prompt_id, event.timestamp
        if isinstance(event, JobSucceeded):
            data: dict[str, Any] = {"prompt_id": pid, "timestamp": ts}
            self._hold("execution_success", data)
            return []
        if isinstance(event, JobFailed):
            data = {"prompt_id": pid, "node_id": event.node_id, "node_type": event.node_type,
                    "executed": list(event.executed), "exception_message": event.message,
                    "exception_type": event.exception_type, "traceback": list(event.traceback),
                    "current_inputs": {k: [v] for k, v in event.inputs.items()},
                    "current_outputs": list(event.executed), "timestamp": ts}
            self._hold("execution_error", data)
            return self._state(event.node_id, "error") if event.node_id else []
        if isinstance(event, JobInterrupted):
            data = {"prompt_id": pid, "node_id": event.node_id, "node_type": event.node_type,
                    "executed": list(event.executed), "timestamp": ts}
            self._hold("execution_interrupted", data, fallback_all=True)
        return []

    def _hold(self, kind: str, data: dict[str, Any], *, fallback_all: bool = False) -> None:
        self._record(kind, data)
        held = self._direct(kind, data, fallback_all=fallback_all)
        self.terminal = held[0] if held else None

    def failure(self, kind: str, message: str, traceback: list[str]) -> dict[str, Any]:
        """Record an error that happened outside a node (re-validation, internal)."""
        data: dict[str, Any] = {
                "prompt_id": self.prompt_id, "node_id": None, "node_type": None,
                "executed": [], "exception_message": message, "exception_type": kind,
                "traceback": traceback, "current_inputs": {}, "current_outputs": [],
                "timestamp": _now_ms()}
        self._hold("execution_error", data)
        return data


def _now_ms() -> int:
    return int(time.time() * 1000)
