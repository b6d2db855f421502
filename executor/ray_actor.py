"""The body of one Ray worker (an actor): an engine that runs the jobs the server sends.

It speaks ``executor.worker_wire``'s messages, as the worker process does: :meth:`run` is a
generator (a Ray streaming method) that yields a job's ``event`` messages in order, then one
``file`` message per output file the job wrote (so the images reach the server's ``output/``
when the worker is on another machine), then its end (``outcome``, ``prompt_error`` or
``job_error``). Ray runs the actor with several threads, so :meth:`cancel`, :meth:`state` and
:meth:`free` are answered while a job runs. Models and the output cache live in the engine, so
they stay loaded from job to job. This module imports no Ray: ``executor.ray_backend`` wraps
the class with ``ray.remote`` when it starts actors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from executor.errors import PromptError
from executor.events import Event
from executor.jobs import JobOutcome
from executor.model_refs import file_name
from executor.worker_child import WorkerBuild
from executor.worker_wire import (
    EncodedPreview,
    Message,
    WireError,
    event_to_wire,
    job_error_to_wire,
    prompt_error_to_wire,
    request_from_wire,
)
from nodes.api.ports import PortUnavailableError

logger = logging.getLogger(__name__)
_END = object()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inside(root: Path, *parts: str) -> Path | None:
    """``root/parts`` if it stays inside ``root`` (symlinks resolved), else ``None``."""
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    return path if path.is_relative_to(base) and path != base else None


def output_files(outcome: JobOutcome) -> list[tuple[str, str]]:
    """(subfolder, filename) of every ``output`` file the outcome's UI entries name."""
    found: list[tuple[str, str]] = []
    for ui in outcome.outputs.values():
        for entries in ui.values():
            for entry in entries:
                if isinstance(entry, Mapping) and entry.get("type") == "output" and \
                        isinstance(entry.get("filename"), str):
                    found.append((str(entry.get("subfolder") or ""), entry["filename"]))
    return found


class EngineActor:
    """One worker of the pool; ``name`` is how the server knows it."""

    def __init__(self, build: WorkerBuild, name: str) -> None:
        self.name = name
        self.setup = build()
        self.engine = self.setup.engine
        self._jobs: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    # -- what the server asks between jobs -------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Who and where it is, the model files it holds (least recently used first), how
        many files it has loaded, its devices and their free memory."""
        models = self.engine.ports.models
        resident = _optional(models, "resident")  # a store that can list what it holds
        held = [file_name(str(entry[0])) for entry in resident()] if callable(resident) else []
        try:
            devices = self.engine.devices()
        except Exception:  # a device query must not take the worker down
            logger.exception("describing the devices failed")
            devices = []
        free = sum(int(d.get("vram_free") or 0) for d in devices)
        return {"name": self.name, "pid": os.getpid(), "host": socket.gethostname(),
                "models": list(dict.fromkeys(held)), "loads": int(_optional(models, "loads") or 0),
                "devices": devices, "free_memory": free, "running": sorted(self._jobs)}

    def free(self, unload_models: bool, free_memory: bool) -> None:
        self.engine.free(unload_models=unload_models, free_memory=free_memory)

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            cancel = self._jobs.get(job_id)
        if cancel is not None:
            cancel.set()
        return cancel is not None

    # -- inputs by content hash ------------------------------------------------------------
    def missing_inputs(self, manifest: Mapping[str, str]) -> list[str]:
        """The names of ``manifest`` ({input file name: sha256}) this worker's input folder
        lacks or holds with other content (on the server's machine: none)."""
        root = self._folder("input")
        missing = []
        for name, digest in manifest.items():
            path = inside(root, name)
            if path is None:
                continue
            if not path.is_file() or sha256(path.read_bytes()) != digest:
                missing.append(name)
        return missing

    def put_input(self, name: str, data: bytes) -> None:
        path = inside(self._folder("input"), name)
        if path is None:
            raise ValueError(f"input file name {name!r} leaves the input folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _folder(self, which: str) -> Path:
        folders = self.engine.folders
        if folders is None:
            raise ValueError(f"the worker {self.name} has no {which} folder")
        return Path(getattr(folders, which))

    # -- one job ---------------------------------------------------------------------------
    def run(self, data: Message) -> Iterator[Message]:
        """The job's messages, its end last (a streaming method)."""
        request = request_from_wire(data)
        cancel = threading.Event()
        with self._lock:
            self._jobs[request.job_id] = cancel
        messages: queue.Queue[Any] = queue.Queue()
        thread = threading.Thread(target=self._execute, args=(request, cancel, messages),
                                  daemon=True, name=f"job-{request.job_id[:8]}")
        thread.start()
        try:
            while (message := messages.get()) is not _END:
                yield message
        finally:
            with self._lock:
                self._jobs.pop(request.job_id, None)

    def _execute(self, request: Any, cancel: threading.Event, messages: queue.Queue[Any]
                 ) -> None:
        def sink(event: Event) -> None:
            try:
                messages.put(event_to_wire(event, self._encode))
            except WireError:
                logger.exception("event %s of job %s dropped", type(event).__name__,
                                 event.job_id)

        try:
            outcome = self.engine.execute(request, sink, None, cancel)
            for message in self._files(outcome):
                messages.put(message)
            end: Message = {"kind": "outcome", "outcome": outcome.to_dict()}
        except PromptError as exc:
            end = prompt_error_to_wire(exc)
        except Exception as exc:
            logger.exception("job %s failed outside any node", request.job_id)
            end = job_error_to_wire(exc)
        messages.put({**end, "job_id": request.job_id})
        messages.put(_END)

    def _files(self, outcome: JobOutcome) -> Iterator[Message]:
        root = self._folder("output")
        for subfolder, filename in output_files(outcome):
            path = inside(root, subfolder, filename)
            if path is not None and path.is_file():
                yield {"kind": "file", "subfolder": subfolder, "filename": filename,
                       "data": path.read_bytes()}

    def _encode(self, preview: Any) -> EncodedPreview | None:
        try:
            return self.setup.encode_preview(preview)
        except Exception:  # a broken preview must not fail the job
            logger.exception("encoding a preview failed")
            return None


def _optional(store: object, name: str) -> Any:
    """``store.name``, or ``None`` when it has none (an unwired store refuses every name)."""
    try:
        return getattr(store, name, None)
    except PortUnavailableError:
        return None
