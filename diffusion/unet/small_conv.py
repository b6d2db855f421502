"""3x3 convolutions over small feature maps computed as one matrix product (im2col + GEMM).

On a CPU, oneDNN's direct convolution is slow when the map is tiny and the weight large: the
UNet's deepest level (8x8 at 512 px, 1280 -> 1280 and 2560 -> 1280 channels) ran at 61-70
GFLOP/s on this 2-core machine where one BLAS product of the unfolded input and the weight ran
at 132-133 GFLOP/s (the 2048^2 matmul: ~170). From 16x16 up the two are even or oneDNN wins, so
only maps of at most ``SMALL_MAP`` pixels take the product (``benchmarks/unet_step.py``).

``SmallMapConv2d`` is an ``nn.Conv2d`` (same parameters and state-dict keys) whose
``_conv_forward`` takes the product for a stride-1, padding-1, ungrouped 3x3 float32 CPU
convolution over a small map, else the ordinary path; ``CastSmallMapConv2d`` is its per-call
upcast form for ``diffusion.weight_cast``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.weight_cast import CastConv2d, register_cast_type

SMALL_MAP = 100  # output pixels per image (H * W) up to which the product is used


def takes_product(layer: nn.Conv2d, x: Tensor) -> bool:
    """Whether ``layer`` on input ``x`` (B, C, H, W) computes by im2col + GEMM."""
    return (
        x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4
        and x.shape[-2] * x.shape[-1] <= SMALL_MAP
        and layer.kernel_size == (3, 3) and layer.stride == (1, 1) and layer.padding == (1, 1)
        and layer.dilation == (1, 1) and layer.groups == 1 and layer.padding_mode == "zeros"
    )


def conv3x3_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A stride-1, padding-1 3x3 convolution of x (B, C, H, W) by weight (O, C, 3, 3)."""
    b, _, h, w = x.shape
    columns = F.unfold(x, 3, padding=1)  # (B, C*9, H*W)
    out = torch.matmul(weight.reshape(weight.shape[0], -1), columns)  # (B, O, H*W)
    if bias is not None:
        out = out + bias[:, None]
    return out.reshape(b, weight.shape[0], h, w)  # (B, O, H, W)


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes small-map 3x3 convolutions as one matrix product."""

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if takes_product(self, x) and weight.dtype == x.dtype:
            return conv3x3_product(x, weight, bias)
        return super()._conv_forward(x, weight, bias)


class CastSmallMapConv2d(SmallMapConv2d, CastConv2d):
    """``SmallMapConv2d`` with its weights upcast per call (``CastConv2d``'s forward, this
    class's ``_conv_forward``)."""


register_cast_type(SmallMapConv2d, CastSmallMapConv2d)
