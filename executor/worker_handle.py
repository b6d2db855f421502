"""One worker process as the server sees it: the process, its pipe and the thread reading it.

The reader thread is the only one that receives from the pipe and the only one that waits for
the process to end (so its exit status is read exactly once). It routes what arrives: ``ready``
and ``fatal`` to this handle, replies to the request waiting for them, everything of a job to
``job_messages``; when the pipe closes it adds ``{"kind": "exited"}`` there and tells the owner.
"""

from __future__ import annotations

import itertools
import logging
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.context import SpawnContext
from typing import Any

from executor.worker_child import WorkerBuild, child_main
from executor.worker_wire import Message

logger = logging.getLogger(__name__)
REAP_TIMEOUT_S = 5.0


class WorkerGoneError(RuntimeError):
    """The worker process ended (or closed its pipe) before it answered."""


def describe_exit(code: int | None) -> str:
    """``exited with status 3``, ``was killed by SIGKILL`` …"""
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class WorkerHandle:
    """Starts one worker process and talks to it; used from any thread."""

    def __init__(self, context: SpawnContext, build: WorkerBuild,
                 on_exit: Callable[[WorkerHandle], None]) -> None:
        parent, child = context.Pipe()
        self.process = context.Process(target=child_main, args=(build, child),
                                       name="latentgraph-worker")
        self.conn = parent
        self.ready = threading.Event()
        self.exited = threading.Event()
        self.devices: list[dict[str, Any]] = []
        self.fatal: str | None = None
        self.killed = False  # stopped on purpose: its exit is no crash
        self.job_messages: queue.Queue[Message] = queue.Queue()
        self._replies: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._on_exit = on_exit
        self.process.start()
        child.close()  # only the worker holds that end: its death closes the pipe
        threading.Thread(target=self._read, daemon=True, name="worker-reader").start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def usable(self) -> bool:
        return self.ready.is_set() and not self.exited.is_set()

    def exit_description(self) -> str:
        return describe_exit(self.process.exitcode)

    def send(self, message: Message) -> bool:
        """Send a message; ``False`` when the worker is gone."""
        with self._send_lock:
            try:
                self.conn.send(message)
            except (OSError, ValueError):  # a broken or closed pipe
                return False
        return True

    def request(self, message: Message, timeout: float) -> Any:
        """Send ``message`` with a new id and wait for its reply (``TimeoutError``,
        :class:`WorkerGoneError`)."""
        request_id = next(self._ids)
        future: Future[Any] = Future()
        self._replies[request_id] = future
        try:
            if self.exited.is_set() or not self.send({**message, "id": request_id}):
                raise WorkerGoneError(f"the worker process {self.exit_description()}")
            return future.result(timeout)
        finally:
            self._replies.pop(request_id, None)

    def kill(self) -> None:
        """SIGKILL, at once (a node that does not stop when asked)."""
        self.killed = True
        if not self.exited.is_set():
            self.process.kill()

    def stop(self, timeout: float) -> None:
        """Ask the worker to exit; kill it if it has not within ``timeout`` seconds."""
        self.killed = True
        if self.send({"kind": "stop"}) and self.exited.wait(timeout):
            return
        self.kill()
        self.exited.wait(REAP_TIMEOUT_S)

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            self._route(message)
        self.process.join(REAP_TIMEOUT_S)
        if self.process.exitcode is None:  # closed its pipe yet lingers
            self.process.kill()
            self.process.join(REAP_TIMEOUT_S)
        self.conn.close()
        self.exited.set()
        self.job_messages.put({"kind": "exited"})
        for future in list(self._replies.values()):
            if not future.done():
                future.set_exception(WorkerGoneError(
                    f"the worker process {self.exit_description()}"))
        self._on_exit(self)

    def _route(self, message: Message) -> None:
        kind = message.get("kind")
        if kind == "ready":
            self.devices = list(message.get("devices") or [])
            self.ready.set()
        elif kind == "fatal":
            self.fatal = str(message.get("error"))
            logger.error("the worker process cannot start:\n%s", self.fatal)
        elif kind == "reply":
            future = self._replies.get(message.get("id", -1))
            if future is not None and not future.done():
                future.set_result(message.get("value"))
        else:
            self.job_messages.put(message)
