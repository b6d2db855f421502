"""Stability's Control-LoRA: a ControlNet rebuilt from the sampled model's UNet.

A Control-LoRA file (marked by a ``lora_controlnet`` key) holds the ControlNet's own layers in
full (hint encoder, zero convolutions, often norms and biases) and, for the layers it shares with
the UNet, low-rank deltas: ``<layer>.up`` (out, r[, 1, 1]) and ``<layer>.down`` (r, in[, k, k]).
As ComfyUI does at the start of every sampling run, the ControlNet takes the UNet's configuration
and weights, then the file's full tensors replace theirs and each delta is added:
``weight = unet_weight + (up.flatten(1) @ down.flatten(1)).reshape(weight.shape)``. Tensors the
file does not change are shared with the UNet, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from diffusion.control.controlnet import ControlNetConfig, ControlNetModel
from diffusion.control.layout import CONTROL_LORA_KEY
from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import read_tensor_file
from diffusion.unet.config import UNetConfig

UP, DOWN = ".up", ".down"


@dataclass(frozen=True, eq=False)
class ControlLoraWeights:
    """The tensors of a Control-LoRA file (``lora_controlnet`` marker left out)."""

    path: Path
    tensors: Mapping[str, Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    @property
    def hint_channels(self) -> int:
        key = "input_hint_block.0.weight"
        if key not in self.tensors:
            raise UnknownModelError(f"{self.path}: Control-LoRA without {key}")
        return int(self.tensors[key].shape[1])

    @property
    def rank(self) -> int:
        ups = [t for k, t in self.tensors.items() if k.endswith(UP)]
        return int(ups[0].shape[1]) if ups else 0


def load_control_lora(path: str | Path) -> ControlLoraWeights:
    """Reads a Control-LoRA file (refused without its ``lora_controlnet`` marker)."""
    file = read_tensor_file(path)
    if CONTROL_LORA_KEY not in file.shapes:
        raise UnknownModelError(f"{file.path}: not a Control-LoRA (no {CONTROL_LORA_KEY!r} key)")
    tensors = {k: file.get(k) for k in file.shapes if k != CONTROL_LORA_KEY}
    unpaired = sorted(k for k in tensors if k.endswith(UP) and k[:-len(UP)] + DOWN not in tensors)
    if unpaired:
        raise UnknownModelError(f"{file.path}: Control-LoRA deltas without their down half: "
                                f"{unpaired[:4]}")
    return ControlLoraWeights(file.path, tensors)


def control_lora_config(unet: UNetConfig, weights: ControlLoraWeights) -> ControlNetConfig:
    """The ControlNet a Control-LoRA builds on ``unet``: the UNet's own configuration."""
    return ControlNetConfig(unet, weights.hint_channels)


def _delta(up: Tensor, down: Tensor, shape: torch.Size) -> Tensor:
    return (up.flatten(1) @ down.flatten(1)).reshape(shape)  # (out, in[, k, k])


def build_control_lora(unet_config: UNetConfig, unet_state: Mapping[str, Tensor],
                       weights: ControlLoraWeights, *, dtype: torch.dtype,
                       device: torch.device) -> ControlNetModel:
    """The ControlNet of ``weights`` on a UNet with ``unet_config`` and weights ``unet_state``
    (its ``state_dict()``, shared where the file changes nothing)."""
    config = control_lora_config(unet_config, weights)
    with torch.device("meta"):
        model = ControlNetModel(config)
    expected = model.state_dict()
    state: dict[str, Tensor] = {k: unet_state[k] for k in expected if k in unet_state}
    for key, tensor in weights.tensors.items():
        if not key.endswith((UP, DOWN)):
            state[key] = tensor.to(device=device, dtype=dtype)
    for key, up in weights.tensors.items():
        if not key.endswith(UP):
            continue
        target = key[:-len(UP)] + ".weight"
        if target not in state:
            raise UnknownModelError(f"{weights.path}: delta {key!r} for {target!r}, which the "
                                    "ControlNet of this model does not have")
        down = weights.tensors[key[:-len(UP)] + DOWN]
        base = state[target]
        delta = _delta(up.to(device, torch.float32), down.to(device, torch.float32), base.shape)
        state[target] = (base.float() + delta).to(dtype)
    _check_complete(weights, expected.keys(), state.keys())
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def _check_complete(weights: ControlLoraWeights, expected: object, present: object) -> None:
    missing = sorted(set(expected) - set(present))  # type: ignore[call-overload]
    extra = sorted(set(present) - set(expected))  # type: ignore[call-overload]
    if missing or extra:
        raise UnknownModelError(
            f"{weights.path}: Control-LoRA does not fit this model's ControlNet; missing "
            f"({len(missing)}): {missing[:4]}; unexpected ({len(extra)}): {extra[:4]}")


__all__ = ["ControlLoraWeights", "build_control_lora", "control_lora_config", "load_control_lora"]
