"""A one-line progress bar on stderr and an append-only JSONL loss log that survives resumes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO


class ProgressBar:
    """``name  120/800 [#####-----] loss 0.0123  0.21 s/it  ETA 142 s``, redrawn at most 5x/s."""

    def __init__(self, name: str, total: int, start: int = 0, stream: TextIO | None = None) -> None:
        self.name, self.total, self.start = name, total, start
        self.stream = stream if stream is not None else sys.stderr
        self._t0 = time.perf_counter()
        self._drawn = 0.0

    def update(self, step: int, **values: float) -> None:
        now = time.perf_counter()
        if now - self._drawn < 0.2 and step < self.total:
            return
        self._drawn = now
        done = step - self.start
        per_it = (now - self._t0) / done if done else 0.0
        filled = int(20 * step / max(self.total, 1))
        extras = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
        eta = per_it * (self.total - step)
        self.stream.write(
            f"\r{self.name} {step}/{self.total} [{'#' * filled}{'-' * (20 - filled)}] "
            f"{extras}  {per_it:.3f} s/it  ETA {eta:.0f} s "
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class LossLog:
    """One JSON object per line with a ``step`` field; ``truncate(step)`` drops later lines.

    A resumed stage truncates to its checkpoint's step, so the log never holds steps twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = [
            line
            for line in self.path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= step
        ]
        self.path.write_text("".join(line + "\n" for line in kept))

    def append(self, record: dict[str, float | int | str]) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    def records(self) -> list[dict[str, float | int | str]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
