"""Diff ControlNets (``DiffControlNetLoader``): files whose ``control_model.`` weights are
differences from their base model's UNet, marked by a ``difference`` key. As ComfyUI does at load
time, every ControlNet tensor that has a UNet tensor of the same name gets that tensor added; the
others (hint encoder, zero convolutions) are taken as they are."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from diffusion.control.controlnet import ControlNetModel


def merge_difference(controlnet: ControlNetModel, unet_state: Mapping[str, Tensor]) -> int:
    """Adds the base UNet's tensors to ``controlnet``'s same-named ones, in place (a module just
    loaded for this purpose, never a shared one); returns how many were merged."""
    merged = 0
    with torch.no_grad():
        for name, tensor in controlnet.state_dict().items():
            base = unet_state.get(name)
            if base is None or base.shape != tensor.shape:
                continue
            tensor.add_(base.to(device=tensor.device, dtype=tensor.dtype))
            merged += 1
    return merged


__all__ = ["merge_difference"]
