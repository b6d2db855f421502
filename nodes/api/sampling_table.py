"""Samplers and schedulers by name: a table object each ``Registry`` owns, never a global.

Node packs add to it the way they add nodes (the built-in pack registers ComfyUI's samplers and
schedulers here); sampler and scheduler pickers list it and the sampling nodes look names up in
it at run time (``ctx.sampling``). Values are opaque here (the contract imports no torch): a
sampler is whatever the sampling code runs (``diffusion.sampling.SamplerSpec``), a scheduler a
``f(model_sampling, steps) -> sigmas``.
"""

from __future__ import annotations

from typing import Any


class UnknownSamplerError(ValueError):
    """A sampler or scheduler name no pack registered."""


class SamplingTable:
    """Samplers and schedulers in registration order (the order pickers show)."""

    def __init__(self) -> None:
        self._samplers: dict[str, Any] = {}
        self._schedulers: dict[str, Any] = {}

    def add_sampler(self, name: str, sampler: Any) -> None:
        _add(self._samplers, "sampler", name, sampler)

    def add_scheduler(self, name: str, scheduler: Any) -> None:
        _add(self._schedulers, "scheduler", name, scheduler)

    def sampler(self, name: str) -> Any:
        return _get(self._samplers, "sampler", name)

    def scheduler(self, name: str) -> Any:
        return _get(self._schedulers, "scheduler", name)

    def sampler_names(self) -> list[str]:
        return list(self._samplers)

    def scheduler_names(self) -> list[str]:
        return list(self._schedulers)


def _add(table: dict[str, Any], kind: str, name: str, value: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
    if name in table and table[name] is not value:
        raise ValueError(f"{kind} {name!r} is already registered")
    table[name] = value


def _get(table: dict[str, Any], kind: str, name: str) -> Any:
    try:
        return table[name]
    except (KeyError, TypeError):
        raise UnknownSamplerError(
            f"unknown {kind} {name!r}; choose one of {sorted(table)}"
        ) from None
