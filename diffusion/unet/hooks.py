"""Extension points of the UNet: residuals (ControlNet, T2I adapters) and weight patches (LoRA);
attention processors (IP-Adapter, PAG ...) live in ``diffusion.unet.attention``.

Both are explicit objects passed by the caller; the model holds no hidden patch state.

* ``UNetResiduals`` — passed to ``UNetModel.forward(..., residuals=...)``. ``skips[i]`` is added
  to the output of ``input_blocks[i]`` where the decoder consumes it as a skip connection, and
  ``middle`` to the middle block output: diffusers' ``down_block_additional_residuals`` /
  ``mid_block_additional_residual`` and ComfyUI's ``control["output"]`` / ``control["middle"]``.
* ``WeightPatch`` — anything that maps (key, current weight) to a new weight, e.g. a LoRA
  ``W + scale * up @ down``. ``patch_weights`` applies a list of patches per parameter key in
  place and returns the originals; ``restore_weights`` puts them back. Keys are the module's own
  ``state_dict`` keys (``input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight``); mapping LoRA
  file keys onto them is the LoRA loader's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn


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


class WeightPatch(Protocol):
    """Computes a patched weight from the current one (LoRA, LoCon, weight diff ...)."""

    def __call__(self, key: str, weight: Tensor) -> Tensor: ...


def patch_weights(
    module: nn.Module, patches: Mapping[str, Sequence[WeightPatch]]
) -> dict[str, Tensor]:
    """Applies ``patches`` in order to the named parameters in place; returns the originals.

    All patched weights are computed and checked before any parameter changes, so a failing
    patch leaves the module untouched.
    """
    params = dict(module.named_parameters())
    unknown = sorted(set(patches) - set(params))
    if unknown:
        raise KeyError(f"patches name parameters the module does not have: {unknown[:5]}")
    patched: dict[str, Tensor] = {}
    with torch.no_grad():
        for key, key_patches in patches.items():
            weight = params[key].detach()
            for patch in key_patches:
                weight = patch(key, weight)
            if weight.shape != params[key].shape:
                raise ValueError(
                    f"patch for {key!r} returned shape {tuple(weight.shape)}, "
                    f"need {tuple(params[key].shape)}"
                )
            patched[key] = weight
        backup = {key: params[key].detach().clone() for key in patched}
        for key, weight in patched.items():
            params[key].copy_(weight)
    return backup


def restore_weights(module: nn.Module, backup: Mapping[str, Tensor]) -> None:
    """Undoes ``patch_weights`` with the values it returned."""
    params = dict(module.named_parameters())
    with torch.no_grad():
        for key, value in backup.items():
            params[key].copy_(value)
