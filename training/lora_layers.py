"""Trainable low-rank adapters on a frozen UNet, exported in kohya's LoRA / LoCon format.

``add_lora(unet, rank)`` replaces the UNet's attention and feed-forward linears, its transformers'
``proj_in`` / ``proj_out`` and its ResBlocks' 3x3 convolutions by ``LoraLayer`` wrappers (the
original module plus ``up(down(x)) * alpha / rank``, ``up`` zero-initialised, so training starts
from the unchanged model). ``kohya_state(layers)`` names each adapter as kohya's trainer does:
``lora_unet_`` + the diffusers module name with ``_`` for ``.`` (``diffusion.loading.
diffusers_keys`` maps our LDM names), with ``lora_down.weight``, ``lora_up.weight`` and
``alpha``; a 3x3 conv's ``lora_down`` is a 3x3 conv and its ``lora_up`` a 1x1 one (LoCon).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from diffusion.loading.diffusers_keys import key_map, unet_prefixes
from diffusion.unet.model import UNetModel

KOHYA_PREFIX = "lora_unet_"
_LINEAR_PARTS = ("attn1.", "attn2.", "ff.net.")
_CONV_ENDS = ("in_layers.2", "out_layers.3", "proj_in", "proj_out")


class LoraLayer(nn.Module):
    """``base(x) + up(down(x)) * scale``; ``base`` stays frozen."""

    def __init__(self, base: nn.Linear | nn.Conv2d, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.rank, self.alpha = rank, alpha
        self.down: nn.Linear | nn.Conv2d
        self.up: nn.Linear | nn.Conv2d
        if isinstance(base, nn.Linear):
            self.down = nn.Linear(base.in_features, rank, bias=False)
            self.up = nn.Linear(rank, base.out_features, bias=False)
        else:
            self.down = nn.Conv2d(base.in_channels, rank, base.kernel_size,  # type: ignore[arg-type]
                                  base.stride, base.padding, bias=False)  # type: ignore[arg-type]
            self.up = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=5**0.5)
        nn.init.zeros_(self.up.weight)
        self.strength = 1.0  # scales the delta at inference (tests, previews)

    def forward(self, x: Tensor) -> Tensor:
        delta = self.up(self.down(x))
        return self.base(x) + delta * (self.strength * self.alpha / self.rank)


def _wanted(name: str, module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return "transformer_blocks." in name and any(p in name for p in _LINEAR_PARTS)
    return isinstance(module, nn.Conv2d) and name.endswith(_CONV_ENDS)


def add_lora(unet: UNetModel, rank: int, alpha: float | None = None) -> dict[str, LoraLayer]:
    """Wraps the target modules of ``unet`` in place; returns ``{LDM module name: layer}``."""
    unet.requires_grad_(False)
    targets = [(name, m) for name, m in unet.named_modules() if _wanted(name, m)]
    layers: dict[str, LoraLayer] = {}
    for name, module in targets:
        assert isinstance(module, nn.Linear | nn.Conv2d)
        parent_name, _, child = name.rpartition(".")
        layer = LoraLayer(module, rank, float(rank if alpha is None else alpha))
        setattr(unet.get_submodule(parent_name), child, layer)
        layers[name] = layer
    if not layers:
        raise ValueError("add_lora found no attention, feed-forward or ResBlock layers")
    return layers


@dataclass(frozen=True)
class KohyaNames:
    """kohya's module name for each of our LDM module names."""

    names: dict[str, str]


def kohya_names(unet: UNetModel, modules: list[str]) -> KohyaNames:
    diffusers = key_map([m + ".weight" for m in modules], unet_prefixes(unet.config))
    return KohyaNames({m: KOHYA_PREFIX + diffusers[m + ".weight"].rsplit(".", 1)[0]
                       .replace(".", "_") for m in modules})


def kohya_state(unet: UNetModel, layers: dict[str, LoraLayer],
                dtype: torch.dtype = torch.float16) -> dict[str, Tensor]:
    """The adapters as a kohya LoRA / LoCon state dict."""
    names = kohya_names(unet, list(layers)).names
    state: dict[str, Tensor] = {}
    for ldm, layer in layers.items():
        key = names[ldm]
        state[f"{key}.lora_down.weight"] = layer.down.weight.detach().to(dtype).contiguous()
        state[f"{key}.lora_up.weight"] = layer.up.weight.detach().to(dtype).contiguous()
        state[f"{key}.alpha"] = torch.tensor(layer.alpha, dtype=dtype)
    return state


def lora_parameters(layers: dict[str, LoraLayer]) -> list[nn.Parameter]:
    return [p for layer in layers.values() for p in (layer.down.weight, layer.up.weight)]


def set_strength(layers: dict[str, LoraLayer], strength: float) -> None:
    for layer in layers.values():
        layer.strength = strength
