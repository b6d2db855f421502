"""The worker process: builds its engine once, then runs the jobs the server sends.

``child_main`` is the target of the process ``executor.process_backend`` starts (``spawn``).
The main thread reads the pipe (run, cancel, free, devices, stop, see ``executor.worker_wire``);
each job runs in a thread of its own, so a cancel or a devices request is answered while a node
works. Models and the output cache live in the engine, so they stay loaded from job to job.
When the server's end of the pipe closes (the server died, even by ``kill -9``) the worker exits
at once. It ignores SIGINT and SIGTERM: a terminal's Ctrl+C or a service manager's SIGTERM
reaches the server, which interrupts the job cooperatively and then stops (or kills) its worker.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from executor.engine import Engine
from executor.errors import PromptError
from executor.events import Event
from executor.jobs import JobRequest
from executor.memory import trim_heap
from executor.worker_wire import (
    EncodedPreview,
    Message,
    PreviewEncoder,
    WireError,
    encoded_bytes_only,
    event_to_wire,
    job_error_to_wire,
    prompt_error_to_wire,
    request_from_wire,
)

logger = logging.getLogger(__name__)
SEND_ERRORS = (pickle.PicklingError, TypeError, AttributeError, ValueError)  # unpicklable


MessageSend = Callable[[str, Any, "str | None"], None]
"""``send(event, data, sid)``: a custom websocket message, to one client (sid) or all."""


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker runs jobs with: its engine, how it encodes previews and, optionally, what
    to give the function that sends custom websocket messages to the server (called once,
    before the first job: node packs' ``send_sync`` from the worker)."""

    engine: Engine
    encode_preview: PreviewEncoder = encoded_bytes_only
    connect_messages: Callable[[MessageSend], None] | None = None


WorkerBuild = Callable[[], WorkerSetup]
"""Builds the worker's engine in the worker process (picklable: a module-level function or a
``functools.partial`` of one)."""


def child_main(build: WorkerBuild, conn: Connection) -> None:
    """The worker process's body: build, say ready, serve until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        setup = build()
    except BaseException:  # whatever a node pack's import raises, the server hears why
        logger.exception("the worker cannot build its engine")
        try:
            conn.send({"kind": "fatal", "error": traceback.format_exc()})
        finally:
            os._exit(2)
    WorkerLoop(setup, conn).serve()
    logging.shutdown()
    os._exit(0)  # job threads are daemons; nothing to wait for


class WorkerLoop:
    """Reads the pipe and runs one job at a time in a job thread."""

    def __init__(self, setup: WorkerSetup, conn: Connection) -> None:
        self.engine = setup.engine
        self.encoder = setup.encode_preview
        self.conn = conn
        self._send_lock = threading.Lock()
        self._job: tuple[str, threading.Event] | None = None
        if setup.connect_messages is not None:
            setup.connect_messages(self.send_message)

    def send(self, message: Message) -> None:
        with self._send_lock:
            self.conn.send(message)

    def send_message(self, event: str, data: Any, sid: str | None = None) -> None:
        """A custom websocket message, from any thread; one the pipe cannot carry is dropped
        (logged), as a message to a closed pipe is."""
        try:
            self.send({"kind": "message", "event": str(event), "data": data,
                       "sid": None if sid is None else str(sid)})
        except (*SEND_ERRORS, OSError):
            logger.exception("websocket message %r dropped", event)

    def serve(self) -> None:
        self.send({"kind": "ready", "pid": os.getpid(), "devices": self._devices()})
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                logger.warning("the server closed the pipe; the worker exits")
                return
            if message.get("kind") == "stop":
                return
            self._handle(message)

    def _handle(self, message: Message) -> None:
        kind = message.get("kind")
        if kind == "run":
            self._start(message["request"])
        elif kind == "cancel":
            job = self._job
            if job is not None and job[0] == message.get("job_id"):
                job[1].set()
        elif kind == "free":
            self.engine.free(unload_models=bool(message.get("unload_models")),
                             free_memory=bool(message.get("free_memory")))
        elif kind == "devices":
            self.send({"kind": "reply", "id": message.get("id"), "value": self._devices()})
        else:
            logger.error("unknown message kind %r from the server; ignored", kind)

    def _devices(self) -> list[dict[str, Any]]:
        try:
            return self.engine.devices()
        except Exception:  # a device query must not take the worker down
            logger.exception("describing the devices failed")
            return []

    def _start(self, data: Message) -> None:
        request = request_from_wire(data)
        cancel = threading.Event()
        self._job = (request.job_id, cancel)
        threading.Thread(target=self._run, args=(request, cancel), daemon=True,
                         name=f"job-{request.job_id[:8]}").start()

    def _run(self, request: JobRequest, cancel: threading.Event) -> None:
        try:
            outcome = self.engine.execute(request, self._sink, None, cancel)
            end: Message = {"kind": "outcome", "outcome": outcome.to_dict()}
        except PromptError as exc:  # re-validation here refused what the server accepted
            end = prompt_error_to_wire(exc)
        except Exception as exc:
            logger.exception("job %s failed outside any node", request.job_id)
            end = job_error_to_wire(exc)
        try:
            self.send({**end, "job_id": request.job_id})
        except SEND_ERRORS as exc:  # an output the pipe cannot carry
            logger.exception("the outcome of job %s cannot be sent", request.job_id)
            self.send({**job_error_to_wire(exc), "job_id": request.job_id})
        trim_heap()  # between jobs: what the job freed goes back to the system

    def _sink(self, event: Event) -> None:
        try:
            self.send(event_to_wire(event, self._encode))
        except (WireError, *SEND_ERRORS):
            logger.exception("event %s of job %s dropped", type(event).__name__, event.job_id)

    def _encode(self, preview: Any) -> EncodedPreview | None:
        try:
            return self.encoder(preview)
        except Exception:  # a broken preview must not fail the job
            logger.exception("encoding a preview failed")
            return None
