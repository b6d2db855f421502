"""Extension point of the UNet: additive residuals (ControlNet, T2I adapters). Attention
processors (IP-Adapter, PAG …) live in ``diffusion.unet.attention``.

``UNetResiduals`` is an explicit object passed to ``UNetModel.forward(..., residuals=...)``; the
model holds no hidden state for it. ``skips[i]`` is added to the output of ``input_blocks[i]``
where the decoder consumes it as a skip connection, and ``middle`` to the middle block output:
diffusers' ``down_block_additional_residuals`` / ``mid_block_additional_residual`` and
ComfyUI's ``control["output"]`` / ``control["middle"]``. ``inputs[i]`` is added to the output of
``input_blocks[i]`` while the encoder runs, so every later block (and the skip) sees it: T2I
adapters' features, ComfyUI's ``control["input"]`` (stored there in reverse, popped per block)
and diffusers' ``down_intrablock_additional_residuals``.

Weight patches (LoRA, weight diffs) live in ``diffusion.patching``: they never modify a model in
place but build a patched copy that shares the unpatched weights (``patched_copy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class UNetResiduals:
    """Additive residuals for the skip connections (one per input block, ``None`` skips one),
    for the middle block output, and for the input blocks' outputs as the encoder runs (at most
    one per input block; blocks past the end get none)."""

    skips: Sequence[Tensor | None] = ()
    middle: Tensor | None = None
    inputs: Sequence[Tensor | None] = ()

    def add_to_input(self, index: int, h: Tensor) -> Tensor:
        """``h``, the output of ``input_blocks[index]``, plus its encoder residual."""
        if index >= len(self.inputs):
            return h
        r = self.inputs[index]
        if r is None:
            return h
        if r.shape[1:] != h.shape[1:]:
            raise ValueError(
                f"residuals.inputs[{index}] has shape {tuple(r.shape)}; input block {index} "
                f"outputs {tuple(h.shape)}"
            )
        return h + r.to(h.dtype)

    def add_to_skips(self, hs: list[Tensor]) -> list[Tensor]:
        if self.skips and len(self.skips) != len(hs):
            raise ValueError(
                f"residuals.skips has {len(self.skips)} tensors; the UNet has {len(hs)} skips"
            )
        if not self.skips:
            return hs
        return [h if r is None else h + r.to(h.dtype) for h, r in zip(hs, self.skips, strict=True)]

    def add_to_middle(self, h: Tensor) -> Tensor:
        return h if self.middle is None else h + self.middle.to(h.dtype)
