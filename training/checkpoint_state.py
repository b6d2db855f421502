"""A stage's resumable state: model, optimizer, step (and extras) in ``<folder>/state.pt``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)


def load_state(folder: Path, model: nn.Module, opt: torch.optim.Optimizer,
               stage: str) -> dict[str, Any] | None:
    """Restores model and optimizer from the saved state; returns it (None: nothing saved)."""
    path = folder / "state.pt"
    if not path.exists():
        return None
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    logger.info("%s: resuming from step %d", stage, state["step"])
    return state


def save_state(folder: Path, model: nn.Module, opt: torch.optim.Optimizer, step: int,
               **extra: Any) -> None:
    """Atomic: an interrupted save leaves the previous state in place."""
    tmp = folder / "state.pt.tmp"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                **extra}, tmp)
    tmp.replace(folder / "state.pt")
