"""The worker process's life: started once, watched, started again when it dies.

A :class:`WorkerSupervisor` owns at most one :class:`~executor.worker_handle.WorkerHandle` at a
time. When its process ends, for whatever reason (a crash, a kill for a hung node, ``kill -9``
from outside), another is started at once; one that dies *before* it is ready (a node pack that
fails to import in the worker …) is started again after a growing pause (0.5 s … 30 s), and jobs
then fail at once with its error instead of waiting. Start it as early as possible: the worker
builds its engine (imports torch, registers the nodes) while the server builds its own registry.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import threading
import time
from typing import Any

from executor.worker_child import WorkerBuild
from executor.worker_handle import WorkerHandle

logger = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
FAILED_STARTS = 3  # deaths before ready after which jobs fail at once instead of waiting


class WorkerUnavailableError(RuntimeError):
    """No worker process can run the job: its start failed, or it did not get ready in time."""


class WorkerSupervisor:
    """Starts, restarts and stops the worker process; call :meth:`start` once, then
    :meth:`close`."""

    def __init__(self, build: WorkerBuild, *, start_timeout_s: float = 300.0,
                 stop_timeout_s: float = 5.0) -> None:
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.restarts = 0  # workers started after the first
        self._build = build
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._handle: WorkerHandle | None = None
        self._timer: threading.Timer | None = None
        self._failed_starts = 0
        self._closing = False
        self._retiring = False
        self._last_devices: list[dict[str, Any]] = []

    def start(self) -> None:
        """Start the worker process (it builds its engine in the background)."""
        with self._lock:
            if self._handle is None and not self._closing:
                self._spawn()
                atexit.register(self.close)

    def _spawn(self) -> None:  # under self._lock
        self._timer = None
        self._handle = WorkerHandle(self._context, self._build, self._exited)
        logger.info("worker process %s started", self._handle.pid)

    def _respawn(self) -> None:
        with self._lock:
            if not (self._closing or self._retiring):
                self.restarts += 1
                self._spawn()

    def _exited(self, handle: WorkerHandle) -> None:
        """Called by the handle's reader thread when its process has ended."""
        with self._lock:
            if handle is not self._handle or self._closing or self._retiring:
                return
            if handle.ready.is_set():
                self._failed_starts, delay = 0, 0.0
            else:
                self._failed_starts += 1
                delay = min(MAX_BACKOFF_S, 0.5 * 2 ** (self._failed_starts - 1))
            how = "was stopped" if handle.killed else handle.exit_description()
            (logger.info if handle.killed else logger.error)(
                "worker process %s %s; starting another%s", handle.pid, how,
                f" in {delay:g} s" if delay else "")
            if delay:
                self._timer = threading.Timer(delay, self._respawn)
                self._timer.daemon = True
                self._timer.start()
            else:
                self.restarts += 1
                self._spawn()

    def stop_restarting(self) -> None:
        """The server is stopping: a worker that ends from now on is not replaced (the
        running job may still end, or be killed, on the current one)."""
        with self._lock:
            self._retiring = True
            timer = self._timer
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        """Stop the worker (killed if it has not exited within ``stop_timeout_s``)."""
        with self._lock:
            self._closing = True
            handle, timer = self._handle, self._timer
        atexit.unregister(self.close)
        if timer is not None:
            timer.cancel()
        if handle is not None and not handle.exited.is_set():
            # one still starting holds nothing: no need to wait for it to listen
            handle.stop(self.stop_timeout_s if handle.ready.is_set() else 0.0)
            logger.info("worker process %s stopped", handle.pid)

    @property
    def current(self) -> WorkerHandle | None:
        """The current worker, ready or not (``None`` before the first start)."""
        return self._handle

    @property
    def worker_pid(self) -> int | None:
        handle = self._handle
        return handle.pid if handle is not None else None

    def ready_worker(self, timeout: float | None = None,
                     cancel: threading.Event | None = None) -> WorkerHandle | None:
        """The running worker, waiting up to ``timeout`` (default ``start_timeout_s``) for it
        to be ready; ``None`` once ``cancel`` is set; :class:`WorkerUnavailableError` if it
        cannot be."""
        deadline = time.monotonic() + (self.start_timeout_s if timeout is None else timeout)
        while cancel is None or not cancel.is_set():
            with self._lock:
                handle, closing, retiring = self._handle, self._closing, self._retiring
            if handle is not None and handle.usable:
                return handle
            if closing or retiring:
                raise WorkerUnavailableError("the server is stopping")
            failure = self._start_failure(handle)
            if failure is not None:
                raise WorkerUnavailableError(f"the worker process cannot start: {failure}")
            if time.monotonic() >= deadline:
                raise WorkerUnavailableError(
                    f"the worker process was not ready within {self.start_timeout_s:g} s")
            if handle is not None:
                handle.ready.wait(0.05)
            else:
                time.sleep(0.05)
        return None

    def _start_failure(self, handle: WorkerHandle | None) -> str | None:
        """Why the worker cannot start, once that is clear: it said why (an import error of
        a node pack …), or it died before it was ready ``FAILED_STARTS`` times in a row."""
        if handle is None or handle.ready.is_set() or not handle.exited.is_set():
            return None
        if handle.fatal:
            return handle.fatal.strip().splitlines()[-1]
        if self._failed_starts >= FAILED_STARTS:
            return f"it {handle.exit_description()} {self._failed_starts} times before it was ready"
        return None

    def known_devices(self) -> list[dict[str, Any]]:
        """The devices the worker last reported (no round trip), kept across restarts."""
        handle = self._handle
        if handle is not None and handle.devices:
            self._last_devices = list(handle.devices)
        return list(self._last_devices)
