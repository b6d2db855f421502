"""Saving several resident modules into one ``.safetensors`` file, streamed.

A :class:`Part` is one module (made resident and pinned by ``open``) and how its tensors appear
in the file: ``entries(module)`` declares them (keys, shapes, dtypes) without computing
anything, ``tensors(module, wanted)`` produces them in the declared order. :func:`save_parts`
declares every part first (one pass over the parts), writes the header, then makes each part
resident again and streams its tensors: a module's own tensors are written from their storage,
computed ones (a LoRA's factors) are produced one at a time. No second copy of a state dict or
of the file is ever built; when the parts stay resident between the two passes (the usual case)
nothing is read twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from typing import Any, BinaryIO

from torch import Tensor, nn

from diffusion.saving.stream import TensorEntry, write_safetensors

Views = Callable[[Any], Iterator[tuple[str, Tensor]]]


@dataclass(frozen=True)
class Part:
    """One module's share of a file (see the module docstring)."""

    open: Callable[[], AbstractContextManager[Any]]
    entries: Callable[[Any], list[TensorEntry]]
    tensors: Callable[[Any, Sequence[TensorEntry]], Iterator[tuple[str, Tensor]]]


def _entries_of(views: Views) -> Callable[[Any], list[TensorEntry]]:
    def entries(module: Any) -> list[TensorEntry]:
        return [TensorEntry(key, tuple(t.shape), t.dtype) for key, t in views(module)]

    return entries


def _tensors_of(views: Views) -> Callable[[Any, Sequence[TensorEntry]],
                                          Iterator[tuple[str, Tensor]]]:
    def tensors(module: Any, wanted: Sequence[TensorEntry]) -> Iterator[tuple[str, Tensor]]:
        by_key = dict(views(module))  # views of the module's own tensors: no copies
        for entry in wanted:
            yield entry.key, by_key[entry.key]

    return tensors


def view_part(open_module: Callable[[], AbstractContextManager[Any]], views: Views) -> Part:
    """A part whose tensors are views of the module's own tensors (``views(module)``)."""
    return Part(open_module, _entries_of(views), _tensors_of(views))


def prefixed(prefix: str) -> Views:
    """The module's state dict under ``prefix`` (its keys are the file keys minus the prefix)."""

    def views(module: nn.Module) -> Iterator[tuple[str, Tensor]]:
        for key, tensor in module.state_dict().items():
            yield prefix + key, tensor

    return views


def constant_part(tensors: Mapping[str, Tensor]) -> Part:
    """Tensors that are not a module's (ComfyUI's ``v_pred`` / ``ztsnr`` marker keys)."""
    return view_part(nullcontext, lambda _unused: iter(tensors.items()))


def save_parts(out: BinaryIO, parts: Sequence[Part],
               metadata: Mapping[str, str] | None = None) -> int:
    """Writes every part's tensors to ``out`` (see the module docstring); returns the bytes
    written. Wider dtypes come first so every tensor stays aligned."""
    declared: list[tuple[int, TensorEntry]] = []
    for index, part in enumerate(parts):
        with part.open() as module:
            declared += [(index, entry) for entry in part.entries(module)]
    ordered = sorted(declared, key=lambda item: -item[1].dtype.itemsize)
    entries = [entry for _, entry in ordered]
    with closing(_produce(parts, ordered)) as tensors:  # unpins at once if writing fails
        return write_safetensors(out, entries, tensors, metadata)


def _produce(parts: Sequence[Part], ordered: list[tuple[int, TensorEntry]]
             ) -> Generator[tuple[str, Tensor], None, None]:
    """Each part resident (pinned) while its run of tensors is written."""
    for index, run in itertools.groupby(ordered, key=lambda item: item[0]):
        wanted = [entry for _, entry in run]
        with parts[index].open() as module:
            yield from parts[index].tensors(module, wanted)


__all__ = ["Part", "Views", "constant_part", "prefixed", "save_parts", "view_part"]
