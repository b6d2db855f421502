"""Which dtype each model component computes in, per device and family.

- CPU: always fp32 compute: half precision is slower on CPUs and some ops lack half kernels
  there. fp16/bf16 files keep their weights as stored (memory-mapped, zero-copy) and each layer
  upcasts its weights as it runs (:func:`keeps_half`, ``diffusion.weight_cast``): measured on
  this 2-core VM, that loads at page-cache speed and halves the weights' memory, while an upcast
  on load pays for fresh pages (``benchmarks/load.py``; README "Performance").
- CUDA: fp16 for UNets and text encoders (bf16 where the device supports it and ``prefer_bf16``
  is set), with the known exceptions:
  - SDXL VAEs overflow in fp16 (NaN images), and so does the x4 upscaler's decoder (its
    config says so): bf16 where supported, else fp32;
  - SD2.x UNets overflow in fp16 attention: they keep fp16 weights but compute attention
    softmax in fp32 (:func:`set_attention_upcast`).
"""

from __future__ import annotations

import torch
from torch import nn

HALF_UNSAFE_VAE_FAMILIES = frozenset({"sdxl", "sdxl_refiner", "sd_x4_upscaler"})
UPCAST_ATTENTION_FAMILIES = frozenset({"sd2"})


def compute_dtype(
    device: torch.device | str,
    component: str,
    family: str,
    *,
    bf16_supported: bool | None = None,
    prefer_bf16: bool = False,
) -> torch.dtype:
    """The dtype ``component`` (``"unet"``, ``"vae"``, ``"clip_l"`` …) of ``family`` runs in."""
    device = torch.device(device)
    if device.type != "cuda":
        return torch.float32
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    if component == "vae" and family in HALF_UNSAFE_VAE_FAMILIES:
        return torch.bfloat16 if bf16_supported else torch.float32
    return torch.bfloat16 if prefer_bf16 and bf16_supported else torch.float16


def keeps_half(device: torch.device | str) -> bool:
    """Whether fp16/bf16 weights stay as stored and are upcast per layer on ``device``: on CPU
    (fp32 compute) yes; on accelerators the compute dtype is already half, so files load as is
    or are converted once."""
    return torch.device(device).type == "cpu"


def needs_attention_upcast(family: str, dtype: torch.dtype) -> bool:
    return family in UPCAST_ATTENTION_FAMILIES and dtype in (torch.float16, torch.bfloat16)


def set_attention_upcast(module: nn.Module, enabled: bool) -> int:
    """Switch fp32 attention on every attention layer that supports it; returns how many."""
    count = 0
    for child in module.modules():
        if hasattr(child, "upcast_attention"):
            child.upcast_attention = enabled
            count += 1
    return count
