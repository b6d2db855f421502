"""Per-run state of model hooks, without mutable hooks.

A MODEL payload (and its ``ModelHooks``) is cached and shared by every job that uses it, so a
hook never keeps state across calls itself. A hook that needs state for the length of one
sampling run (Self-Attention Guidance remembers the attention map of the step's unconditional
forward, APG a running average of the guidance, HyperTile and ToMe a random generator)
implements :class:`RunBound`: at the start of each run ``ModelHooks.for_run`` calls
``bind_run`` with that run's fresh :class:`RunState` and uses what it returns (a plain hook of
the same kind) for the run. Hooks that must share state (SAG's attention processor and its
post-CFG function) ask the run state for the same slot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

RUN_SEED = 0
"""Seed of every run's generators (``RunState.generator``): a patch that draws random numbers
gives the same result for the same run. ComfyUI draws these from torch's global generator."""

T = TypeVar("T")


class RunState:
    """What the hooks of one sampling run keep: slots by owner, generators by device."""

    def __init__(self) -> None:
        self._slots: dict[int, tuple[object, Any]] = {}
        self._generators: dict[str, torch.Generator] = {}

    def slot(self, owner: object, make: Callable[[], T]) -> T:
        """``owner``'s state for this run, made by ``make`` on first use. Hooks that pass the
        same owner (by identity) share it."""
        key = id(owner)
        if key not in self._slots:
            self._slots[key] = (owner, make())  # the owner is kept alive with its slot
        value: T = self._slots[key][1]
        return value

    def generator(self, device: torch.device | str) -> torch.Generator:
        """The run's generator on ``device``, seeded with ``RUN_SEED`` when first asked for."""
        device = torch.device(device)
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device).manual_seed(RUN_SEED)
        return self._generators[key]


@runtime_checkable
class RunBound(Protocol):
    """A hook with per-run state: ``bind_run`` returns the hook to use during one run."""

    def bind_run(self, run: RunState) -> Any: ...


def bind(hook: T, run: RunState) -> T:
    """``hook`` for a run: its ``bind_run(run)`` if it is :class:`RunBound`, else itself."""
    if isinstance(hook, RunBound):
        bound: T = hook.bind_run(run)
        return bound
    return hook


__all__ = ["RUN_SEED", "RunBound", "RunState", "bind"]
