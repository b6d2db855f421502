"""Memory without torch: the host's RAM, the engine's budget, out-of-memory errors in words.

- :func:`host_memory` reads ``/proc/meminfo`` (total and available RAM).
- :func:`budget_from_devices` turns the ports' device list (ComfyUI's ``/system_stats``
  entries) into the :class:`~nodes.api.memory.MemoryBudget` jobs are checked against: the
  accelerator's total memory and the RAM (a CPU engine has only the RAM).
- :func:`reset_peak_rss` / :func:`peak_rss_bytes`: the process's resident-set high-water mark
  (``VmHWM``), reset at the start of a job so each job record carries its own peak.
- :func:`is_out_of_memory` recognises an allocation failure by its type's *name*
  (``MemoryError``, torch's ``OutOfMemoryError``) or torch's CPU allocator message, and
  :func:`describe_out_of_memory` says in plain words what failed, what is free and what to
  change.
- :func:`trim_heap` hands memory the C allocator holds free back to the system (glibc).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
from typing import Any

from nodes.api.memory import MemoryBudget, MemoryEstimate, MemoryReport, format_bytes
from nodes.api.ports import DeviceList

OOM_TYPES = frozenset({"MemoryError", "OutOfMemoryError"})
_OOM_TEXT = ("can't allocate memory", "out of memory")
_ALLOCATION = re.compile(r"[Tt]ried to allocate (\d+(?:\.\d+)? ?(?:[KMGT]i?B|bytes))")
DEFAULT_ADVICE = ("use a smaller width, height or batch_size, decode large images with "
                  "VAE Decode (Tiled), or unload models (POST /free)")
FALLBACK_CACHE_BYTES = 2 << 30
logger = logging.getLogger(__name__)


def host_memory() -> tuple[int | None, int | None]:
    """(total, available) bytes of RAM; ``None`` where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            fields = dict(line.split(":", 1) for line in info if ":" in line)
        total = int(fields["MemTotal"].split()[0]) * 1024
        available = int(fields["MemAvailable"].split()[0]) * 1024
        return total, available
    except (OSError, ValueError, KeyError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), None
    except (OSError, ValueError, AttributeError):
        return None, None


def reset_peak_rss() -> bool:
    """Resets this process's RSS high-water mark to its current RSS (Linux ``clear_refs`` 5);
    False where that is not possible (the peak then counts from the process start)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    """This process's RSS high-water mark (``VmHWM``) in bytes; None where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_cache_bytes() -> int:
    """The output cache's default budget: a quarter of the RAM available now (2 GiB if
    unknown)."""
    _, available = host_memory()
    return available // 4 if available else FALLBACK_CACHE_BYTES


def _accelerator(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    for entry in entries:
        if entry.get("type") not in (None, "cpu") and int(entry.get("vram_total") or 0) > 0:
            return entry
    return None


def budget_from_devices(devices: DeviceList) -> MemoryReport:
    """The budget of an engine whose compute devices ``devices`` lists."""
    def report() -> MemoryBudget:
        total, available = host_memory()
        try:
            gpu = _accelerator(devices())
        except Exception:  # a device query must not fail a validation
            gpu = None
        if gpu is None:
            return MemoryBudget(device=total, host=total, device_free=available,
                                host_free=available, device_name="RAM", device_is_host=True)
        return MemoryBudget(device=int(gpu["vram_total"]), host=total,
                            device_free=int(gpu.get("vram_free") or 0), host_free=available,
                            device_name=str(gpu.get("name") or gpu.get("type")))
    return report


def is_out_of_memory(exc: BaseException) -> bool:
    if any(cls.__name__ in OOM_TYPES for cls in type(exc).__mro__):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(t in text for t in _OOM_TEXT)


def _free(budget: MemoryBudget) -> str:
    parts = []
    if budget.device_free is not None and not budget.device_is_host:
        parts.append(f"{format_bytes(budget.device_free)} of {format_bytes(budget.device or 0)}"
                     f" free on {budget.device_name}")
    if budget.host_free is not None:
        parts.append(f"{format_bytes(budget.host_free)} of {format_bytes(budget.host or 0)} "
                     "of RAM free")
    return "; ".join(parts) if parts else "free memory unknown"


def describe_out_of_memory(exc: BaseException, node_type: str, estimate: MemoryEstimate | None,
                           budget: MemoryBudget) -> str:
    """One paragraph: what ran out, what it tried to allocate, what is free, what to change."""
    found = _ALLOCATION.search(str(exc))
    tried = f" while allocating {found.group(1)}" if found else ""
    needs = f"; it needs at least {estimate.what}" if estimate and estimate.what else ""
    advice = (estimate.advice if estimate and estimate.advice else DEFAULT_ADVICE)
    return (f"{node_type} ran out of memory{tried}{needs}. After releasing this job's "
            f"intermediate results: {_free(budget)}. To make it fit, {advice}. "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})")


def _malloc_trim() -> ctypes._NamedFuncPointer | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim: ctypes._NamedFuncPointer = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): nothing to trim
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def trim_heap() -> bool:
    """Returns the free pages of every malloc arena to the system (glibc's ``malloc_trim``);
    False where there is no such call. Jobs run in threads of their own, each of which may get
    an arena of its own, whose freed blocks glibc otherwise keeps: after each job, so a
    long-running worker's resident memory does not drift with the sizes of past jobs."""
    if _TRIM is None:
        return False
    try:
        _TRIM(0)
    except OSError:  # pragma: no cover - a libc call that fails is logged, never fatal
        logger.exception("malloc_trim failed")
        return False
    return True
