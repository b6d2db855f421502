"""Combine Hooks [2] / [4] / [8]: the given groups as one, each hook once (by identity), in
first-seen order; with one group given it is returned as it is, with none the output is empty
(None), as ComfyUI's ``HookGroup.combine_all_hooks``."""

from __future__ import annotations

from typing import Any, ClassVar

from diffusion.guidance.hooked import HookGroup, combine_hook_groups
from nodes.api import HOOKS, Link, Node, Output, RunContext

LETTERS = "ABCDEFGH"


def _slots(count: int) -> tuple[Link, ...]:
    return tuple(Link(f"hooks_{letter}", HOOKS, optional=True, tooltip="Hooks to combine.")
                 for letter in LETTERS[:count])


class _CombineHooks(Node):
    category = "advanced/hooks/combine"
    experimental = True
    outputs = (Output(HOOKS),)
    slots: ClassVar[int] = 0

    def run(self, ctx: RunContext, **hooks: HookGroup | None) -> tuple[Any, ...]:
        names = [f"hooks_{letter}" for letter in LETTERS[: self.slots]]
        unknown = sorted(set(hooks) - set(names))
        if unknown:
            raise TypeError(f"{self.type_name} has no inputs {unknown}")
        return (combine_hook_groups(hooks.get(name) for name in names),)


class CombineHooks2(_CombineHooks):
    """Combines two groups of hooks."""

    display_name = "Combine Hooks [2]"
    slots = 2
    inputs = _slots(2)


class CombineHooks4(_CombineHooks):
    """Combines four groups of hooks."""

    display_name = "Combine Hooks [4]"
    slots = 4
    inputs = _slots(4)


class CombineHooks8(_CombineHooks):
    """Combines eight groups of hooks."""

    display_name = "Combine Hooks [8]"
    slots = 8
    inputs = _slots(8)


COMBINE_NODES = [CombineHooks2, CombineHooks4, CombineHooks8]
