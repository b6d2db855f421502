"""RebatchLatents: a list of latent batches regrouped into batches of ``batch_size``.

ComfyUI's algorithm: walk the list; latents of the same size join the current batch (a size
change closes it); whenever the batch holds more than ``batch_size`` latents, full batches are
cut off its front. Every output batch carries its noise positions (``batch_index``: the input's,
or its running position over the whole list) and a noise mask, which is dropped when it is all
ones (a latent without a mask counts as ones at 8 × its size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nodes.api import LATENT, Int, Link, Node, Output, RunContext
from nodes.payloads import Latent


@dataclass(frozen=True, eq=False)
class _Batch:
    samples: Tensor  # (B, C, h, w)
    mask: Tensor  # (B or more, 1, H, W)
    index: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    def part(self, start: int, stop: int | None) -> _Batch:
        return _Batch(self.samples[start:stop], self.mask[start:stop], self.index[start:stop])

    def plus(self, other: _Batch) -> _Batch:
        mask = other.mask
        if mask.shape[-2:] != self.mask.shape[-2:]:  # ComfyUI fails here; we resize
            mask = torch.nn.functional.interpolate(mask, size=self.mask.shape[-2:],
                                                   mode="bilinear")
        return _Batch(torch.cat((self.samples, other.samples)), torch.cat((self.mask, mask)),
                      self.index + other.index)

    def latent(self) -> Latent:
        mask = None if float(self.mask.mean()) == 1.0 else self.mask
        return Latent(self.samples, mask, self.index)


def _batch_of(latent: Latent, offset: int) -> _Batch:
    samples = latent.samples
    b, _, h, w = samples.shape
    mask = latent.noise_mask
    if mask is None:
        mask = torch.ones((b, 1, h * 8, w * 8))
    elif mask.shape[0] < b:
        mask = mask.repeat((b - 1) // mask.shape[0] + 1, 1, 1, 1)[:b]
    index = latent.batch_index
    if index is None:
        index = tuple(range(offset, offset + b))
    return _Batch(samples, mask, index)


def rebatch(latents: list[Latent], batch_size: int) -> list[Latent]:
    """The latents regrouped (see the module docstring)."""
    out: list[Latent] = []
    current: _Batch | None = None
    processed = 0
    for latent in latents:
        incoming = _batch_of(latent, processed)
        processed += len(incoming.index)
        if current is None:
            current = incoming
        elif incoming.samples.shape[-2:] != current.samples.shape[-2:]:
            out.append(current.part(0, batch_size).latent())
            current = incoming
        else:
            current = current.plus(incoming)
        if len(current) > batch_size:
            full = len(current) // batch_size
            out += [current.part(i * batch_size, (i + 1) * batch_size).latent()
                    for i in range(full)]
            current = current.part(full * batch_size, None) if full * batch_size < \
                len(current) else None
    if current is not None:
        out.append(current.part(0, batch_size).latent())
    return out


class RebatchLatents(Node):
    """Regroups a list of latent batches into batches of batch_size (a list output: the nodes
    after it run once per batch)."""

    display_name = "Rebatch Latents"
    category = "latent/batch"
    input_is_list = True
    inputs = (
        Link("latents", LATENT, tooltip="The latent batches (a list or a single batch)."),
        Int("batch_size", default=1, min=1, max=4096, tooltip="Latents per output batch."),
    )
    outputs = (Output(LATENT, is_list=True),)

    def run(self, ctx: RunContext, latents: list[Latent],
            batch_size: list[int]) -> tuple[Any, ...]:
        return (rebatch(list(latents), batch_size[0]),)


LATENT_REBATCH = [RebatchLatents]
