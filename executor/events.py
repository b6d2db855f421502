"""Typed execution events and the sinks they are published to.

Events are published from the job's worker thread. A sink must be cheap and thread-safe; the
server's sink posts them to its event loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Event:
    job_id: str
    timestamp: int = field(default_factory=_now_ms, kw_only=True)


@dataclass(frozen=True)
class JobStarted(Event):
    pass


@dataclass(frozen=True)
class NodesCached(Event):
    """Nodes whose outputs were reused without running."""

    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class NodeStarted(Event):
    node_id: str
    node_type: str


@dataclass(frozen=True)
class NodeProgress(Event):
    node_id: str
    value: float
    max: float
    preview: Any = None


@dataclass(frozen=True)
class NodeOutput(Event):
    """UI data a node produced (images to show …); also sent for reused output nodes."""

    node_id: str
    ui: dict[str, list[Any]]
    cached: bool = False


@dataclass(frozen=True)
class NodeFinished(Event):
    node_id: str
    seconds: float


@dataclass(frozen=True)
class JobSucceeded(Event):
    pass


@dataclass(frozen=True)
class JobFailed(Event):
    node_id: str | None
    node_type: str | None
    exception_type: str
    message: str
    traceback: tuple[str, ...]
    inputs: dict[str, str]
    executed: tuple[str, ...]


@dataclass(frozen=True)
class JobInterrupted(Event):
    node_id: str | None
    node_type: str | None
    executed: tuple[str, ...]


class EventSink(Protocol):
    def __call__(self, event: Event) -> None: ...


class CollectingSink:
    """Keeps every event (tests, the CLI's summary)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of_type(self, kind: type[Event]) -> list[Any]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]
