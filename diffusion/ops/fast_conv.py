"""3x3 convolutions on a CPU (the UNet's and the VAE's): one BLAS product on tiny maps, Winograd
on larger ones.

oneDNN's direct convolution is what ``nn.Conv2d`` runs on a CPU. Measured on this 2-core
machine per SD1.5 shape at 64x64 latents (``benchmarks/conv3x3.py``):

- on the deepest level (8x8 maps, 1280 -> 1280 and 2560 -> 1280 channels) it ran at 43-70
  GFLOP/s where one BLAS product of the unfolded input and the weight (im2col + GEMM) ran at
  66-130, so outputs of at most ``SMALL_MAP`` pixels take the product; so does the stride-2
  downsampler into that level (16x16 -> 8x8, 1280 channels: 78.9 -> 41.1 ms);
- above that, Winograd (``diffusion.ops.winograd``) ran faster wherever both channel counts
  are at least ``WINOGRAD_MIN_CHANNELS`` (below that its transforms cost more than they save):
  F(2x2, 3x3) on maps of up to ``F2_MAX_MAP`` pixels (16x16, 32x32), where F(4x4, 3x3)'s
  2.25x larger transformed weight costs as much as or more than its 1.8x smaller product
  saves, and F(4x4, 3x3) on larger maps (64x64), where it beat F(2x2, 3x3) on 3 of 4 shapes.

The VAE's ResnetBlocks and upsamplers take the same layer: its 512x512 decode (128-512
channels, F(4x4, 3x3) on its 64x64 to 512x512 maps) ran 0.67x diffusers' time
(``benchmarks/vae_decode.py``).

``FastConv2d`` is an ``nn.Conv2d`` (same parameters and state-dict keys) whose
``_conv_forward`` picks the path per call (``conv3x3_path``) and otherwise takes the ordinary
one; ``CastFastConv2d`` is its per-call-upcast form for ``diffusion.weight_cast``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.ops.winograd import F2, F4, Scheme, winograd_conv3x3
from diffusion.weight_cast import CastConv2d, register_cast_type

SMALL_MAP = 100  # output pixels per image (H * W) up to which the product is used
F2_MAX_MAP = 1024  # ... up to which Winograd F(2x2, 3x3) is used; F(4x4, 3x3) above
WINOGRAD_MIN_CHANNELS = 64  # input and output channels from which Winograd is used

Path = Literal["product", "winograd-f2", "winograd-f4"]
SCHEMES: dict[Path, Scheme] = {"winograd-f2": F2, "winograd-f4": F4}


def _is_plain_3x3(layer: nn.Conv2d, x: Tensor, weight: Tensor) -> bool:
    return (
        x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
        and x.dim() == 4
        and layer.kernel_size == (3, 3) and layer.stride in ((1, 1), (2, 2))
        and layer.padding == (1, 1)
        and layer.dilation == (1, 1) and layer.groups == 1 and layer.padding_mode == "zeros"
    )


def conv3x3_path(layer: nn.Conv2d, x: Tensor, weight: Tensor) -> Path | None:
    """How ``layer`` convolves x (B, C, H, W) by ``weight``: "product", "winograd-f2",
    "winograd-f4", or None (oneDNN). Winograd needs map sides that are multiples of its tile
    step and no gradient (its transforms write in place); stride 2 takes only the product."""
    if not _is_plain_3x3(layer, x, weight):
        return None
    stride = layer.stride[0]
    h, w = x.shape[-2:]
    if ((h - 1) // stride + 1) * ((w - 1) // stride + 1) <= SMALL_MAP:  # output pixels
        return "product"
    if stride != 1:
        return None
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    if needs_grad or min(layer.in_channels, layer.out_channels) < WINOGRAD_MIN_CHANNELS:
        return None
    path: Path = "winograd-f2" if h * w <= F2_MAX_MAP or h % 4 or w % 4 else "winograd-f4"
    if h % SCHEMES[path].m or w % SCHEMES[path].m:
        return None
    return path  # its temporaries are blocks of at most winograd.BLOCK_BYTES


def conv3x3_product(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int = 1) -> Tensor:
    """A padding-1 3x3 convolution of x (B, C, H, W) by weight (O, C, 3, 3) with ``stride``."""
    b, _, h, w = x.shape
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    columns = F.unfold(x, 3, padding=1, stride=stride)  # (B, C*9, Ho*Wo)
    out = torch.matmul(weight.reshape(weight.shape[0], -1), columns)  # (B, O, Ho*Wo)
    if bias is not None:
        out = out + bias[:, None]
    return out.reshape(b, weight.shape[0], ho, wo)  # (B, O, Ho, Wo)


class FastConv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes 3x3 CPU convolutions by the faster path for the map."""

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        path = conv3x3_path(self, x, weight)
        if path == "product":
            return conv3x3_product(x, weight, bias, self.stride[0])
        if path is not None:
            return winograd_conv3x3(x, weight, bias, SCHEMES[path])
        return super()._conv_forward(x, weight, bias)


class CastFastConv2d(FastConv2d, CastConv2d):
    """``FastConv2d`` with its weights upcast per call (``CastConv2d``'s forward, this class's
    ``_conv_forward``)."""


register_cast_type(FastConv2d, CastFastConv2d)
