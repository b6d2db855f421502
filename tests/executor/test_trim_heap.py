"""executor.memory.trim_heap: memory a job thread freed goes back to the system."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import threading
    from executor.memory import trim_heap

    def rss_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    def job():  # small blocks (below mmap's threshold) in this thread's malloc arena
        blocks = [bytearray(48 * 1024) for _ in range(3000)]  # ~140 MiB
        keep = blocks[-1]
        del blocks
        return keep

    done = []
    thread = threading.Thread(target=lambda: done.append(job()))
    thread.start()
    thread.join()
    before = rss_kib()
    trimmed = trim_heap()
    print(trimmed, before, rss_kib())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_trim_heap_returns_what_a_finished_job_thread_freed() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    trimmed, before, after = out[0] == "True", int(out[1]), int(out[2])
    assert trimmed
    assert before - after > 64 * 1024, (before, after)  # KiB: most of the ~140 MiB freed
