"""Extension point of the UNet's blocks: patches between blocks.

Passed explicitly to ``UNetModel.forward(..., blocks=BlockPatches(...))``; the model holds no
patch state. As ComfyUI's ``transformer_options["patches"]``:

* ``inputs`` (``input_block_patch``): after input block i, on its output h, before h is kept
  as skip connection i and passed on;
* ``inputs_after_skip`` (``input_block_patch_after_skip``): after h was kept as skip i, on what
  the next block receives (Kohya Deep Shrink downscales here);
* ``outputs`` (``output_block_patch``): before output block j, on (h, skip) just before they are
  concatenated (FreeU scales the backbone h and filters the skip here).

Patches of one kind run in order, each on the previous one's result. ``BlockInfo`` tells a patch
which block it is at (ComfyUI's block id), the UNet's input shape, the call's noise levels and
the batch's cond/uncond layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

from diffusion.unet.attention import BlockId


@dataclass(frozen=True, eq=False)
class BlockInfo:
    """Where a block patch runs. ``eq=False``: it holds a tensor.

    ``original_shape`` is the UNet input's (B, C, H, W); ``sigmas`` the (B,) noise level of each
    row (None when the caller did not say); ``model_channels`` the UNet's base width (FreeU
    picks its levels by channel count relative to it); ``cond_or_uncond`` as in
    ``AttentionInfo``.
    """

    block: BlockId
    original_shape: tuple[int, ...]
    model_channels: int
    sigmas: Tensor | None = None
    cond_or_uncond: tuple[int, ...] = ()


class InputBlockPatch(Protocol):
    """h (B, C, H, W) after an input block -> a new h (any spatial size the next block takes)."""

    def __call__(self, h: Tensor, info: BlockInfo) -> Tensor: ...


class OutputBlockPatch(Protocol):
    """(h, skip) before an output block concatenates them -> new (h, skip) of equal (H, W)."""

    def __call__(self, h: Tensor, skip: Tensor, info: BlockInfo) -> tuple[Tensor, Tensor]: ...


@dataclass(frozen=True, eq=False)
class BlockPatches:
    """The block patches of one UNet forward and what their ``BlockInfo`` carries."""

    inputs: tuple[InputBlockPatch, ...] = ()
    inputs_after_skip: tuple[InputBlockPatch, ...] = ()
    outputs: tuple[OutputBlockPatch, ...] = ()
    sigmas: Tensor | None = None  # (B,)
    cond_or_uncond: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for kind in ("inputs", "inputs_after_skip", "outputs"):
            for i, patch in enumerate(getattr(self, kind)):
                if not callable(patch):
                    raise TypeError(f"{kind}[{i}]={patch!r} is not callable")

    def __bool__(self) -> bool:
        return bool(self.inputs or self.inputs_after_skip or self.outputs)

    def info(self, block: BlockId, original_shape: tuple[int, ...],
             model_channels: int) -> BlockInfo:
        return BlockInfo(block, original_shape, model_channels, self.sigmas,
                         self.cond_or_uncond)

    @staticmethod
    def _each(patches: tuple[InputBlockPatch, ...], h: Tensor, info: BlockInfo) -> Tensor:
        for patch in patches:
            h = patch(h, info)
        return h

    def after_input(self, h: Tensor, info: BlockInfo) -> Tensor:
        """``inputs`` on the output of an input block (before it is kept as a skip)."""
        return self._each(self.inputs, h, info)

    def after_skip(self, h: Tensor, info: BlockInfo) -> Tensor:
        """``inputs_after_skip`` on what the next block receives."""
        return self._each(self.inputs_after_skip, h, info)

    def before_output(self, h: Tensor, skip: Tensor, info: BlockInfo) -> tuple[Tensor, Tensor]:
        """``outputs`` on (h, skip); their spatial sizes must then agree."""
        for patch in self.outputs:
            h, skip = patch(h, skip, info)
        if h.shape[-2:] != skip.shape[-2:]:
            raise ValueError(
                f"before output block {info.block}: h {tuple(h.shape)} and skip "
                f"{tuple(skip.shape)} differ in size after the output block patches"
            )
        return h, skip


__all__ = ["BlockInfo", "BlockPatches", "InputBlockPatch", "OutputBlockPatch"]
