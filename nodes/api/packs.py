"""What loading each node pack gave: its status, import time, nodes, and what went wrong.

The plugin loader (``nodes.plugins``) fills a :class:`PackReport` per pack into the registry;
the server lists them (``GET /api/plugins``), the editor shows failed packs, the CLI prints the
import times. Plain data (JSON-ready through :meth:`PackReport.to_dict`): the contract stays
free of torch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

LOADED, FAILED, DISABLED = "loaded", "failed", "disabled"


@dataclass(frozen=True)
class PackFailure:
    """Why a pack (or one of its nodes) could not load: the exception, its traceback and,
    for a missing module, its name and the pip package that provides it when known."""

    exception_type: str
    message: str
    traceback: tuple[str, ...] = ()
    missing_module: str | None = None
    pip_package: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"exception_type": self.exception_type, "message": self.message,
                "traceback": list(self.traceback), "missing_module": self.missing_module,
                "pip_package": self.pip_package}


@dataclass
class PackReport:
    """One node pack: where it came from and how its loading went.

    ``status``: ``loaded`` (its nodes registered, maybe some ``left_out``), ``failed`` (the
    import or registration raised: ``error``), ``disabled`` (skipped by the settings).
    ``retained`` maps a node type to the bytes of memory its runs kept beyond their outputs
    (a suspected leak, measured while serving).
    """

    name: str
    path: str
    source: str
    status: str = LOADED
    seconds: float = 0.0
    apis: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    error: PackFailure | None = None
    web_directory: str | None = None
    routes: int = 0
    retained: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    def note_retained(self, node: str, nbytes: int) -> None:
        with self._lock:
            self.retained[node] = nbytes

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            retained = dict(self.retained)
        return {
            "name": self.name, "path": self.path, "source": self.source, "status": self.status,
            "seconds": round(self.seconds, 4), "apis": list(self.apis),
            "nodes": list(self.nodes), "left_out": dict(self.left_out),
            "error": None if self.error is None else self.error.to_dict(),
            "web_directory": self.web_directory, "routes": self.routes,
            "retained_bytes": retained,
        }
