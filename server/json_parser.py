"""Where request bodies are parsed: in a thread when small, in a helper process when large.

Python's JSON parser holds the GIL for the whole of one call: one 16 MB string takes ~35 ms,
and the checks of ``server.request_body`` ~25 ms more, time in which the event loop answers
nothing (and longer when the CPUs are busy with a job: a parsing thread descheduled while it
holds the GIL holds up every other thread). Bodies of ``PROCESS_BYTES`` (1 MiB) or more are
therefore parsed and checked in a helper process, started for the first such body and stopped
with the app; this process only copies the bytes out and the value in. Refusals come back as
plain tuples and are raised here again. A helper process that died is replaced, and the body
it had is parsed in a thread; if no helper can be started (a program that embeds the server
without a ``__main__`` guard cannot spawn), every body is parsed in a thread. The helper exits
when the server's process ends, however it ends (``kill -9`` included).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from server.errors import ApiError, BadRequestError, PayloadTooLargeError
from server.request_body import parse_json

logger = logging.getLogger(__name__)
PROCESS_BYTES = 2**20
_ERRORS: dict[str, type[ApiError]] = {"BadRequestError": BadRequestError,
                                      "PayloadTooLargeError": PayloadTooLargeError}


def parse_plain(raw: bytes | bytearray, max_depth: int) -> tuple[Any, ...]:
    """``("ok", value)`` or ``("refused", error class, code, message, details, extra)`` (runs
    in the helper process: only plain values cross back)."""
    try:
        return ("ok", parse_json(raw, max_depth))
    except ApiError as exc:
        issue = exc.issue
        return ("refused", type(exc).__name__, issue.code, issue.message, issue.details,
                dict(issue.extra_info))


def _exit_with_parent() -> None:
    """Runs in the helper as it starts: end it when the server's process ends."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # its sentinel closes when the parent exits, by any means
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


class JsonParser:
    """Parses JSON bodies off the event loop (see the module docstring); :meth:`close` it."""

    def __init__(self, process_bytes: int = PROCESS_BYTES) -> None:
        self.process_bytes = process_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._unavailable = False  # a helper process could not be started: threads only

    async def parse(self, raw: bytes | bytearray, max_depth: int) -> Any:
        loop = asyncio.get_running_loop()
        if len(raw) < self.process_bytes or self._closed or self._unavailable:
            return await loop.run_in_executor(None, parse_json, raw, max_depth)
        try:
            pool = self._pool
            if pool is None:
                pool = await loop.run_in_executor(None, self._start_helper)
        except (RuntimeError, OSError) as exc:  # it cannot be started at all
            logger.warning("no JSON helper process (%s); large bodies are parsed in a thread",
                           str(exc).strip().splitlines()[0])
            self._unavailable = True
            return await loop.run_in_executor(None, parse_json, raw, max_depth)
        try:
            answer = await loop.run_in_executor(pool, parse_plain, raw, max_depth)
        except BrokenProcessPool:
            logger.warning("the JSON helper process died; parsing this body in a thread")
            self._drop(pool)
            return await loop.run_in_executor(None, parse_json, raw, max_depth)
        if answer[0] == "ok":
            return answer[1]
        _, name, code, message, details, extra = answer
        raise _ERRORS.get(name, BadRequestError)(code, message, details, extra)

    def _start_helper(self) -> ProcessPoolExecutor:
        """The helper process's pool, its process started (in a thread: not on the loop)."""
        with self._lock:
            if self._pool is None:
                pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_exit_with_parent)
                try:
                    pool.submit(int).result()  # the process starts with its first call
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                self._pool = pool
            return self._pool

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            self._closed, pool, self._pool = True, self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
