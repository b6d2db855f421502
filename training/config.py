"""The ``train-demo`` run settings every stage reads: output folder, seed, step scale, threads.

Below every stage module: the stages import it, it imports no other training module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESOLUTION = 128  # SD1.x layout with the f=8 VAE: 16x16x4 latents


@dataclass(frozen=True)
class RunConfig:
    out: Path
    seed: int = 0
    steps_scale: float = 1.0
    threads: int = 1
    resolution: int = RESOLUTION
    steps: int | None = None  # an add-on stage's optimizer steps (None: recipe x steps_scale)

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not self.steps_scale > 0:
            raise ValueError(f"steps_scale must be > 0, got {self.steps_scale}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    def stage_dir(self, stage: str) -> Path:
        return self.out / stage

    def scaled(self, full: int, minimum: int = 1) -> int:
        return max(minimum, round(full * self.steps_scale))

    def addon_steps(self, full: int) -> int:
        """An add-on stage's steps: ``steps`` if given, else ``full`` scaled. Its data size
        follows ``steps_scale`` only, so a run resumed with another ``steps`` keeps its cached
        latents (the learning-rate schedule then follows the new total from the saved step)."""
        return self.steps if self.steps is not None else self.scaled(full)
