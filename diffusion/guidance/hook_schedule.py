"""Which weights a hooked entry is evaluated with at one step: ``ActiveHooks`` (a hook group
with each hook's keyframe strength at that step) and ``KeyframeClock``, the per-run state that
moves hooks through their keyframes as ComfyUI's ``HookKeyframeGroup.prepare_current_keyframe``.

The clock is made for one sampling run (ComfyUI resets keyframes when a run starts). A hook's
keyframe advances only on a sigma it has not seen, and only when an entry carrying it is
evaluated at that sigma (as ComfyUI prepares keyframes for active hooked entries only). The
run's largest sigma, which decides whether a keyframe's guaranteed steps count, is taken as the
largest sigma the run has evaluated so far (``observe`` is called on every evaluation, hooked
entries active or not): samplers evaluate the schedule's first (largest) sigma first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from diffusion.guidance.hooked import HookGroup, HookKeyframe, HookKeyframes, WeightHook


@dataclass(frozen=True)
class ActiveHooks:
    """A hook group at one step: each hook with its current keyframe strength (the factor on
    its ``strength_model``). Equal values share a forward and a patched model."""

    hooks: tuple[tuple[WeightHook, float], ...]

    def model_strengths(self) -> tuple[tuple[WeightHook, float], ...]:
        """Each hook with the strength its diffusion-model patches get now."""
        return tuple((hook, hook.strength_model * mult) for hook, mult in self.hooks)


@dataclass
class _Position:
    index: int = 0  # the current keyframe
    used: int = 0  # steps spent on it
    last_sigma: float | None = None


class KeyframeClock:
    """Per-run keyframe positions, keyed by hook (its ref and keyframes)."""

    def __init__(self, percent_to_sigma: Callable[[float], float]) -> None:
        self._percent_to_sigma = percent_to_sigma
        self._starts: dict[HookKeyframes, tuple[float, ...]] = {}
        self._positions: dict[tuple[str, HookKeyframes], _Position] = {}
        self._max_sigma = float("-inf")

    def observe(self, sigma: float) -> None:
        """The run evaluates ``sigma`` (keeps the run's largest sigma)."""
        self._max_sigma = max(self._max_sigma, sigma)

    def active(self, group: HookGroup, sigma: float) -> ActiveHooks:
        """``group`` at ``sigma``, advancing each hook's keyframe if this sigma is new to it."""
        self.observe(sigma)
        return ActiveHooks(tuple((hook, self._strength(hook, sigma)) for hook in group.hooks))

    def _strength(self, hook: WeightHook, sigma: float) -> float:
        keyframes = hook.keyframes.keyframes
        if not keyframes:
            return 1.0
        position = self._positions.setdefault((hook.ref, hook.keyframes), _Position())
        if position.last_sigma != sigma:
            self._advance(position, hook.keyframes, sigma)
        return keyframes[position.index].strength

    def _start_sigmas(self, keyframes: HookKeyframes) -> tuple[float, ...]:
        if keyframes not in self._starts:
            self._starts[keyframes] = tuple(
                self._percent_to_sigma(k.start_percent) for k in keyframes.keyframes)
        return self._starts[keyframes]

    def _guaranteed(self, keyframe: HookKeyframe, start_sigma: float) -> int:
        """A keyframe that starts before the run's largest sigma guarantees no steps."""
        return 0 if start_sigma > self._max_sigma else keyframe.guarantee_steps

    def _advance(self, position: _Position, keyframes: HookKeyframes, sigma: float) -> None:
        frames, starts = keyframes.keyframes, self._start_sigmas(keyframes)
        current = position.index
        if position.used >= self._guaranteed(frames[current], starts[current]):
            for i in range(current + 1, len(frames)):
                if starts[i] < sigma:
                    break  # starts later in the schedule than this step
                position.index, position.used = i, 0
                if self._guaranteed(frames[i], starts[i]) > 0:
                    break
        position.used += 1
        position.last_sigma = sigma


__all__ = ["ActiveHooks", "KeyframeClock"]
