"""Per-step overhead benchmarks' shared loop: setups' steps interleaved, medians, ratios."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch


def interleaved_times(steps: dict[str, Callable[[], object]], repeat: int
                      ) -> dict[str, list[float]]:
    """One warm-up call of each setup, then ``repeat`` rounds timing each setup once."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    with torch.inference_mode():
        for step in steps.values():  # warm-up (adapters compute their features here)
            step()
        for _ in range(repeat):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    return times


def print_overheads(times: dict[str, list[float]], baseline: str = "plain") -> None:
    """Each setup's median ms/step and its ratio to ``baseline``, then the load average."""
    plain = statistics.median(times[baseline])
    width = max(len(name) for name in times)
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:{width}s} {median * 1000:9.1f} ms/step   x{median / plain:.3f} of plain   "
              f"(+{(median - plain) * 1000:.1f} ms)")
    load = os.getloadavg()  # other jobs on the machine slow every setup alike
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)")


__all__ = ["interleaved_times", "print_overheads"]
