"""``PatchSet``: an ordered, immutable, hashable collection of weight patches.

Its identity is ``digest``, a sha256 over each patch's kind (class) and ``identity()`` in order,
so two sets built separately from the same content are equal and share one patched model in the
``ModelManager``; a different strength, diff or order gives a different digest. The empty set's
digest is ``""`` (the unpatched model).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from diffusion.patching.patches import WeightPatch


def _patch_line(index: int, patch: WeightPatch) -> bytes:
    kind = f"{type(patch).__module__}.{type(patch).__qualname__}"
    try:
        return json.dumps([kind, *patch.identity()], separators=(",", ":")).encode() + b"\n"
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"patches[{index}] ({kind}, key {patch.key!r}): identity() must hold only str, int, "
            f"float, bool, None or tuples of them; {err}"
        ) from err


def _digest(patches: tuple[WeightPatch, ...]) -> str:
    if not patches:
        return ""
    hasher = hashlib.sha256()
    for index, patch in enumerate(patches):
        hasher.update(_patch_line(index, patch))
    return hasher.hexdigest()


@dataclass(frozen=True, eq=False)
class PatchSet:
    """Patches applied in order (several may name the same key: each gets the previous result).

    Equality and hash go by ``digest``. ``nbytes`` is 0: the set holds its patches' tensors only
    by reference (they belong to whoever loaded them, e.g. a LoRA file's tensors), so a cached
    payload carrying a PatchSet does not count them again. Full-weight diffs can be large; the
    patched weights themselves are counted by the ``ModelManager``.
    """

    patches: tuple[WeightPatch, ...] = ()
    digest: str = field(init=False)

    EMPTY: ClassVar[PatchSet]
    nbytes: ClassVar[int] = 0

    def __post_init__(self) -> None:
        patches = tuple(self.patches)
        for index, patch in enumerate(patches):
            if not isinstance(patch, WeightPatch):
                raise TypeError(
                    f"patches[{index}] is {type(patch).__name__}, not a WeightPatch "
                    "(key, identity(), apply())"
                )
        object.__setattr__(self, "patches", patches)
        object.__setattr__(self, "digest", _digest(patches))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PatchSet) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __bool__(self) -> bool:
        return bool(self.patches)

    def __len__(self) -> int:
        return len(self.patches)

    def __iter__(self) -> Iterator[WeightPatch]:
        return iter(self.patches)

    def plus(self, *patches: WeightPatch) -> PatchSet:
        """A new set with ``patches`` appended; this one is unchanged."""
        return PatchSet((*self.patches, *patches))

    def keys(self) -> tuple[str, ...]:
        """The patched parameter keys, each once, in first-patched order."""
        return tuple(dict.fromkeys(patch.key for patch in self.patches))

    def by_key(self) -> dict[str, list[WeightPatch]]:
        """Each patched key's patches, in application order."""
        grouped: dict[str, list[WeightPatch]] = {}
        for patch in self.patches:
            grouped.setdefault(patch.key, []).append(patch)
        return grouped

    def __repr__(self) -> str:
        keys = len(self.keys())
        return f"PatchSet({len(self)} patches, {keys} keys, digest={self.digest[:12]!r})"


PatchSet.EMPTY = PatchSet()

__all__ = ["PatchSet"]
