"""The hypernetwork as an attention input patch (ComfyUI applies it on both attention layers)."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from diffusion.hypernetwork.file import Hypernetwork
from diffusion.unet.attention import AttentionInfo


@dataclass(frozen=True, eq=False)
class HypernetworkPatch:
    """``context_k += k_net(context_k) * strength`` and the same for v, where the file has
    networks for the context's width; other calls pass through. The networks run in fp32 and are
    copied once per compute device."""

    hypernetwork: Hypernetwork
    strength: float
    _placed: dict[tuple[int, str], tuple[nn.Module, nn.Module]] = field(
        default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, x: Tensor, context_k: Tensor, context_v: Tensor,
                 info: AttentionInfo) -> tuple[Tensor, Tensor, Tensor]:
        nets = self._nets(context_k.shape[-1], context_k.device)
        if nets is None:
            return x, context_k, context_v
        k_net, v_net = nets
        with torch.no_grad():
            k = context_k + k_net(context_k.float()).to(context_k.dtype) * self.strength
            v = context_v + v_net(context_v.float()).to(context_v.dtype) * self.strength
        return x, k, v  # (B, M, C) each

    def _nets(self, width: int, device: torch.device) -> tuple[nn.Module, nn.Module] | None:
        nets = self.hypernetwork.layers.get(width)
        if nets is None or device.type == "cpu":
            return nets
        key = (width, str(device))
        with self._lock:
            if key not in self._placed:
                self._placed[key] = (copy.deepcopy(nets[0]).to(device),
                                     copy.deepcopy(nets[1]).to(device))
            return self._placed[key]
