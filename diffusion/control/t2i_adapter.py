"""T2I-Adapters (TencentARC), as ComfyUI runs them: a small network over the pixel-unshuffled
hint whose features are added to the UNet encoder's activations.

* ``full``: SD1.x / SD2.x adapters (unshuffle 8, four levels, stride-2 average pooling or a
  stride-2 conv between levels); ``full_xl``: SDXL adapters (unshuffle 16, downsampling only into
  the third level, the fourth level's features go to the middle block);
* ``light``: the light SD1.x adapters (per level a 1x1 in/out conv around plain res blocks).

Parameter names are the original files' (``conv_in``, ``body.N.block1`` …); diffusers'
``T2IAdapter`` layout is renamed onto them (``diffusion.control.layout``). Odd sizes are pooled as
ComfyUI does (one pixel of zero padding on each side of an odd dimension).

``adapter_residuals`` places the features the way ComfyUI's UNet pops them: for ``full`` and
``light`` after input blocks 2, 5, 8 and 11; for ``full_xl`` after input blocks 3, 5 and 8 and on
the middle block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.unet.hooks import UNetResiduals

AdapterKind = Literal["full", "full_xl", "light"]
XL_DOWNSAMPLED_LEVELS = (2,)
XL_WIDENED_LEVELS = (1,)  # the level whose first block changes width without downsampling


@dataclass(frozen=True)
class AdapterConfig:
    """``in_channels``: channels after the unshuffle (hint channels x unshuffle²);
    ``channels``: width per level; ``res_blocks``: blocks per level; ``kernel``: the blocks'
    second conv (and width-changing conv) size; ``skip_conv``: a conv on the residual path
    (``skep``); ``conv_down``: a stride-2 conv instead of average pooling between levels."""

    kind: AdapterKind
    in_channels: int
    channels: tuple[int, ...] = (320, 640, 1280, 1280)
    res_blocks: int = 2
    kernel: int = 1
    skip_conv: bool = False
    conv_down: bool = False

    @property
    def unshuffle(self) -> int:
        return 16 if self.kind == "full_xl" else 8

    @property
    def hint_channels(self) -> int:
        """Channels of the hint image (1 for grey hints, 3 for RGB)."""
        return self.in_channels // (self.unshuffle * self.unshuffle)

    def __post_init__(self) -> None:
        if self.in_channels % (self.unshuffle * self.unshuffle):
            raise ValueError(f"in_channels={self.in_channels} is not a multiple of "
                             f"{self.unshuffle}² (the {self.kind} adapter's unshuffle)")


class AvgDown(nn.Module):
    """2x2 average pooling; an odd dimension gets one zero of padding on each side (ComfyUI)."""

    def forward(self, x: Tensor) -> Tensor:
        padding = (x.shape[2] % 2, x.shape[3] % 2)
        return F.avg_pool2d(x, 2, 2, padding=padding)  # (B, C, ceil(h/2), ceil(w/2))


class ConvDown(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class ResnetBlock(nn.Module):
    """[downsample], [in_conv when the width changes], conv-ReLU-conv plus the (skep) skip."""

    def __init__(self, in_c: int, out_c: int, *, down: bool, config: AdapterConfig) -> None:
        super().__init__()
        k, pad = config.kernel, config.kernel // 2
        self.in_conv = (nn.Conv2d(in_c, out_c, k, 1, pad)
                        if in_c != out_c or config.skip_conv else None)
        self.block1 = nn.Conv2d(out_c, out_c, 3, 1, 1)
        self.block2 = nn.Conv2d(out_c, out_c, k, 1, pad)
        self.skep = nn.Conv2d(in_c, out_c, k, 1, pad) if config.skip_conv else None
        self.down_opt: nn.Module | None = None
        if down:
            self.down_opt = ConvDown(in_c) if config.conv_down else AvgDown()

    def forward(self, x: Tensor) -> Tensor:
        if self.down_opt is not None:
            x = self.down_opt(x)
        if self.in_conv is not None:
            x = self.in_conv(x)
        h = self.block2(F.relu(self.block1(x)))
        return h + (self.skep(x) if self.skep is not None else x)


class LightResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.block2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.block2(F.relu(self.block1(x))) + x


class Extractor(nn.Module):
    """A light adapter level: [pool], 1x1 in, res blocks at a quarter width, 1x1 out."""

    def __init__(self, in_c: int, out_c: int, res_blocks: int, *, down: bool) -> None:
        super().__init__()
        inner = out_c // 4
        self.in_conv = nn.Conv2d(in_c, inner, 1)
        self.body = nn.Sequential(*(LightResBlock(inner) for _ in range(res_blocks)))
        self.out_conv = nn.Conv2d(inner, out_c, 1)
        self.down_opt = AvgDown() if down else None

    def forward(self, x: Tensor) -> Tensor:
        if self.down_opt is not None:
            x = self.down_opt(x)
        return self.out_conv(self.body(self.in_conv(x)))


def _full_body(config: AdapterConfig) -> nn.ModuleList:
    ch = config.channels
    xl = config.kind == "full_xl"
    blocks = []
    for i in range(len(ch)):
        for j in range(config.res_blocks):
            first = j == 0 and i > 0
            down = first and (i in XL_DOWNSAMPLED_LEVELS if xl else True)
            widen = first and (down or (xl and i in XL_WIDENED_LEVELS))
            in_c = ch[i - 1] if widen else ch[i]
            blocks.append(ResnetBlock(in_c, ch[i], down=down, config=config))
    return nn.ModuleList(blocks)


class T2IAdapter(nn.Module):
    """``forward(hint) -> features``: one (B, channels[i], ...) tensor per level."""

    def __init__(self, config: AdapterConfig) -> None:
        super().__init__()
        self.config = config
        self.unshuffle = nn.PixelUnshuffle(config.unshuffle)
        if config.kind == "light":
            widths = (config.in_channels, *config.channels)
            self.body = nn.ModuleList(
                Extractor(widths[i], widths[i + 1], config.res_blocks, down=i > 0)
                for i in range(len(config.channels)))
        else:
            self.conv_in = nn.Conv2d(config.in_channels, config.channels[0], 3, 1, 1)
            self.body = _full_body(config)

    def forward(self, hint: Tensor) -> list[Tensor]:
        """hint: (B, hint_channels, H, W), H and W multiples of the unshuffle."""
        x = self.unshuffle(hint)  # (B, in_channels, H/u, W/u)
        features = []
        if self.config.kind == "light":
            for level in self.body:
                x = level(x)
                features.append(x)
            return features
        x = self.conv_in(x)
        per_level = self.config.res_blocks
        for i, block in enumerate(self.body):
            x = block(x)
            if (i + 1) % per_level == 0:
                features.append(x)
        return features


def adapter_block_channels(config: AdapterConfig) -> dict[int, int]:
    """{input block index (-1: middle block): feature width} of ComfyUI's placement."""
    shapes = [torch.empty(0, ch, 1, 1) for ch in config.channels]
    placed = adapter_residuals(list(shapes), config.kind)
    out = {i: int(r.shape[1]) for i, r in enumerate(placed.inputs) if r is not None}
    if placed.middle is not None:
        out[-1] = int(placed.middle.shape[1])
    return out


def adapter_residuals(features: list[Tensor], kind: AdapterKind,
                      scale: float = 1.0) -> UNetResiduals:
    """ComfyUI's placement of the features (see the module docstring), each times ``scale``."""
    inputs: list[Tensor | None] = []
    middle: Tensor | None = None
    for level, feature in enumerate(features):
        scaled = feature * scale
        if kind == "full_xl":
            if level == len(features) - 1:
                middle = scaled
                break
            inputs += [None, None, None] if level == 0 else [None, None] if level == 2 else [None]
        else:
            inputs += [None, None]
        inputs.append(scaled)
    return UNetResiduals(inputs=tuple(inputs), middle=middle)


__all__ = ["AdapterConfig", "AdapterKind", "T2IAdapter", "adapter_block_channels",
           "adapter_residuals"]
