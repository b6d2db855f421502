"""ComfyUI's ``add_patches`` values as our weight patches (``diffusion.patching``).

A patch list entry is ``(strength_patch, value, strength_model, offset, function)``; values
understood: a tensor or ``("diff", (tensor,))`` — ``W * strength_model + strength * diff`` — and
``("lora", (up, down, alpha, mid, dora_scale))`` without ``mid``/``dora_scale`` —
``W * strength_model + strength * alpha / rank * up @ down``. Other kinds are refused naming
them. Keys are ComfyUI's (``diffusion_model.<our key>``); the prefix is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from diffusion.patching import Identity, tensor_digest

UNET_PREFIX = "diffusion_model."


class UnsupportedPatchError(ValueError):
    """A ComfyUI patch kind this layer cannot apply."""


@dataclass(frozen=True, eq=False)
class ComfyPatch:
    """One ``add_patches`` entry as a :class:`~diffusion.patching.WeightPatch`."""

    key: str
    kind: str  # "diff" or "lora"
    tensors: tuple[Tensor, ...]
    strength: float
    strength_model: float = 1.0
    alpha: float | None = None
    _digests: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_digests", tuple(tensor_digest(t) for t in self.tensors))

    def identity(self) -> Identity:
        return ("comfy", self.kind, self.key, self.strength, self.strength_model, self.alpha,
                self._digests)

    def apply(self, weight: Tensor) -> Tensor:
        base = weight.float() * self.strength_model
        if self.kind == "diff":
            diff = self.tensors[0].to(weight.device, torch.float32)
            return base + self.strength * diff.reshape(weight.shape)
        up, down = (t.to(weight.device, torch.float32) for t in self.tensors)
        rank = down.shape[0]
        scale = (self.alpha / rank) if self.alpha is not None else 1.0
        delta = up.flatten(1) @ down.flatten(1)  # (out, in * k * k)
        return base + self.strength * scale * delta.reshape(weight.shape)


def _entry(key: str, strength: float, value: Any, strength_model: float) -> ComfyPatch:
    if isinstance(value, Tensor):
        return ComfyPatch(key, "diff", (value,), strength, strength_model)
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
        kind, body = value
        if kind == "diff":
            return ComfyPatch(key, "diff", (body[0],), strength, strength_model)
        if kind == "lora" and (len(body) < 4 or body[3] is None) and \
                (len(body) < 5 or body[4] is None):
            alpha = None if body[2] is None else float(body[2])
            return ComfyPatch(key, "lora", (body[0], body[1]), strength, strength_model, alpha)
        raise UnsupportedPatchError(f"weight patch kind {kind!r} for {key!r} is not supported "
                                    "(supported: a tensor, 'diff', plain 'lora')")
    raise UnsupportedPatchError(f"weight patch for {key!r} is a {type(value).__name__}; "
                                "expected a tensor or a (kind, tensors) tuple")


def to_weight_patches(patches: dict[str, list[tuple[Any, ...]]]) -> list[ComfyPatch]:
    """Our patches for ModelPatcher.patches (key -> list of patch entries), in order."""
    found = []
    for key, entries in patches.items():
        ours = key[len(UNET_PREFIX):] if key.startswith(UNET_PREFIX) else key
        for entry in entries:
            strength, value, strength_model = entry[0], entry[1], entry[2]
            found.append(_entry(ours, float(strength), value, float(strength_model)))
    return found
