"""Benchmarks' shared loops: setups' steps interleaved, medians, ratios; ours vs diffusers per
round with the machine's matmul rate (``unet_step.py``, ``vae_decode.py``)."""

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


def matmul_flops(size: int = 2048, repeat: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * size**3 * repeat / (time.perf_counter() - start)


def timed_rounds(fns: dict[str, Callable[[], object]],
                 repeat: int) -> tuple[dict[str, list[float]], list[float]]:
    """Seconds per call of each of ``fns``, interleaved, and the matmul rate of every round: the
    mean of a measurement before each call (the machine's speed drifts within a round)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    peaks = []
    for _ in range(repeat):
        rates = []
        for name, fn in fns.items():
            rates.append(matmul_flops())
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        peaks.append(statistics.fmean(rates))
    return times, peaks


def report(times: dict[str, list[float]], peaks: list[float], flops: float, executed: float,
           rel: float, what: str) -> None:
    """Prints ours vs diffusers (median seconds; the median of the per-round ratios too),
    achieved FLOP/s and the efficiency: FLOP/s over the matmul rate, as the median of the
    rounds' own (each round's FLOP/s over its own matmul rate) and of the medians. ``flops``
    are counted on diffusers' call, ``executed`` on ours."""
    ours, ref = times["ours"], times["diffusers"]
    ours_s, ref_s = statistics.median(ours), statistics.median(ref)
    peak = statistics.median(peaks)
    ratios = [a / b for a, b in zip(ours, ref, strict=True)]
    rounds = [flops / s / p for s, p in zip(ours, peaks, strict=True)]
    print(
        f"ours {ours_s:.3f} s  diffusers {ref_s:.3f} s  ratio {ours_s / ref_s:.3f}  "
        f"(median per-round ratio {statistics.median(ratios):.3f}; max rel diff {rel:.1e})"
    )
    print(
        f"{what} {flops / 1e9:.1f} GFLOP  achieved {flops / ours_s / 1e9:.1f} GFLOP/s  "
        f"matmul {peak / 1e9:.1f} GFLOP/s  efficiency {flops / ours_s / peak:.2f}  "
        f"(median per-round efficiency {statistics.median(rounds):.2f})"
    )
    print("matmul per round " + " ".join(f"{p / 1e9:.1f}" for p in peaks) + " GFLOP/s; ours "
          + " ".join(f"{s:.2f}" for s in ours) + " s; diffusers "
          + " ".join(f"{s:.2f}" for s in ref) + " s; ratios "
          + " ".join(f"{r:.3f}" for r in ratios))
    fewer = " (Winograd convolutions multiply less)" if executed < flops else ""
    print(f"ours executed {executed / 1e9:.1f} GFLOP{fewer}; diffusers achieved "
          f"{flops / ref_s / 1e9:.1f} GFLOP/s, efficiency {flops / ref_s / peak:.2f}")


__all__ = ["interleaved_times", "matmul_flops", "print_overheads", "report", "timed_rounds"]
