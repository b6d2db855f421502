"""Learning-rate schedules shared by the training stages."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 5 % of ``total`` steps, then cosine from ``peak`` to 0."""
    warmup = max(1, total // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
