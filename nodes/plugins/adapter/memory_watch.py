"""Spotting a plugin node that leaks: memory its runs keep beyond their outputs.

Around each call of a plugin node the bytes the process has allocated and not freed are read
(glibc's ``mallinfo2``: every arena, a few microseconds; where it is missing, the resident size
from ``/proc/self/statm``, coarser); what they grew by, less the bytes of the node's outputs
(which the output cache legitimately keeps), is what the run retained. Allocated bytes, unlike
the resident size, do not move when the allocator keeps a freed block for later, so another
node's temporary buffers are not blamed on this one. A node whose last ``RUNS`` runs each kept
more than ``THRESHOLD`` is reported — a warning in the log, a note on the job, and the bytes in
its pack's report (``GET /api/plugins``) — never hidden. One-off growth (a model loaded once, an
allocator keeping a freed block) does not repeat run after run and is not reported.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections import deque
from typing import Any

logger = logging.getLogger(__name__)
THRESHOLD = 8 * 2**20
RUNS = 3
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo2() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc; elsewhere the resident size is used
        function = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    return function


_MALLINFO2 = _mallinfo2()


def live_bytes() -> int:
    """Bytes allocated and not yet freed (heap chunks in use plus mmapped blocks), or the
    resident size where glibc's mallinfo2 is not available."""
    if _MALLINFO2 is not None:
        info = _MALLINFO2()
        return int(info.uordblks + info.hblkhd)
    return rss_bytes()


def rss_bytes() -> int:
    """Resident memory of this process (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def value_bytes(value: Any) -> int:
    """Bytes a value holds (tensors, payloads reporting ``nbytes``, containers of them)."""
    if isinstance(value, (list, tuple)):
        return sum(value_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(value_bytes(v) for v in value.values())
    size = getattr(value, "nbytes", 0)
    return int(size) if isinstance(size, int) else 0


class LeakWatch:
    """The retained bytes of one node type's recent runs."""

    def __init__(self) -> None:
        self._recent: deque[int] = deque(maxlen=RUNS)
        self._lock = threading.Lock()
        self.total = 0

    def record(self, retained: int) -> int | None:
        """Add one run's retained bytes; returns the bytes retained over the last ``RUNS``
        runs when each of them kept more than ``THRESHOLD`` (a leak), else None."""
        with self._lock:
            self._recent.append(retained)
            if retained > 0:
                self.total += retained
            if len(self._recent) == RUNS and min(self._recent) > THRESHOLD:
                return sum(self._recent)
        return None
