"""Extension point of the UNet: additive residuals (ControlNet, T2I adapters). Attention
processors (IP-Adapter, PAG …) live in ``diffusion.unet.attention``.

``UNetResiduals`` is an explicit object passed to ``UNetModel.forward(..., residuals=...)``; the
model holds no hidden state for it. ``skips[i]`` is added to the output of ``input_blocks[i]``
where the decoder consumes it as a skip connection, and ``middle`` to the middle block output:
diffusers' ``down_block_additional_residuals`` / ``mid_block_additional_residual`` and
ComfyUI's ``control["output"]`` / ``control["middle"]``.

Weight patches (LoRA, weight diffs) live in ``diffusion.patching``: they never modify a model in
place but build a patched copy that shares the unpatched weights (``patched_copy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class UNetResiduals:
    """Additive residuals for the skip connections (one per input block, ``None`` skips one)
    and for the middle block output."""

    skips: Sequence[Tensor | None] = ()
    middle: Tensor | None = None

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
