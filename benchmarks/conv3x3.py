"""Every 3x3 stride-1 convolution of one SD1.5 UNet forward: oneDNN, product, Winograd F2/F4.

The shapes and how often each runs come from a forward of the full-size UNet on the meta device
(batch 2, ``--latent`` latents). Each distinct shape is timed by each path, interleaved, on
random data; the paths ``FastConv2d`` picks (``diffusion.ops.fast_conv.conv3x3_path``) are
marked. Last line: the whole forward's 3x3 convolution time with oneDNN only vs the picked
paths (sum of count x median).

Run: python benchmarks/conv3x3.py [--latent 64] [--repeat 3] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.ops.fast_conv import (  # noqa: E402
    SCHEMES,
    FastConv2d,
    conv3x3_path,
    conv3x3_product,
)
from diffusion.ops.winograd import winograd_conv3x3  # noqa: E402
from diffusion.unet import UNetModel, sd1_config  # noqa: E402

Shape = tuple[int, int, int, int]  # in channels, out channels, height, width


def forward_shapes(latent: int) -> Counter[Shape]:
    """(C, O, H, W) of every 3x3 stride-1 convolution in one SD1.5 forward, with counts."""
    with torch.device("meta"):
        model = UNetModel(sd1_config()).eval()
    shapes: Counter[Shape] = Counter()

    def record(layer: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _: object) -> None:
        assert isinstance(layer, torch.nn.Conv2d)
        if layer.kernel_size == (3, 3) and layer.stride == (1, 1):
            h, w = inputs[0].shape[-2:]
            shapes[(layer.in_channels, layer.out_channels, h, w)] += 1

    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):
            layer.register_forward_hook(record)
    x = torch.empty(2, 4, latent, latent, device="meta")
    with torch.inference_mode():
        model(x, torch.zeros(2, device="meta"), torch.empty(2, 77, 768, device="meta"))
    return shapes


def time_paths(shape: Shape, repeat: int) -> tuple[dict[str, float], str]:
    """Median seconds per path for one shape, and the path ``FastConv2d`` picks."""
    c, o, h, w = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, c, h, w, generator=gen)  # (B, C, H, W)
    layer = FastConv2d(c, o, 3, padding=1).eval().requires_grad_(False)
    weight, bias = layer.weight, layer.bias
    paths: dict[str, Callable[[], torch.Tensor]] = {
        "onednn": lambda: F.conv2d(x, weight, bias, padding=1),
        "product": lambda: conv3x3_product(x, weight, bias),
    }
    for name, scheme in SCHEMES.items():
        if h % scheme.m == 0 and w % scheme.m == 0:
            paths[name] = lambda scheme=scheme: winograd_conv3x3(x, weight, bias, scheme)
    times: dict[str, list[float]] = {name: [] for name in paths}
    with torch.inference_mode():
        picked = conv3x3_path(layer, x, weight) or "onednn"
        for fn in paths.values():
            fn()  # warm: primitive creation, first-touch pages
        for _ in range(repeat):
            for name, fn in paths.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="three small shapes, seconds")
    args = parser.parse_args()
    shapes = forward_shapes(args.latent)
    if args.smoke:
        shapes = Counter({(64, 64, 8, 8): 1, (64, 64, 16, 16): 2, (4, 64, 16, 16): 1})
    print(f"3x3 convolutions, batch 2, latent {args.latent}, {torch.get_num_threads()} threads; "
          f"ms (GFLOP/s), median of {args.repeat}; * = the path FastConv2d picks")
    total_onednn = total_picked = 0.0
    for shape, count in sorted(shapes.items(), key=lambda item: -item[0][2]):
        medians, picked = time_paths(shape, args.repeat)
        flops = 2 * 2 * shape[0] * shape[1] * 9 * shape[2] * shape[3]
        cells = "  ".join(
            f"{name.removeprefix('winograd-')}{'*' if name == picked else ' '} {s * 1e3:6.1f} "
            f"({flops / s / 1e9:5.1f})"
            for name, s in medians.items()
        )
        print(f"{shape[0]:>4}->{shape[1]:<4} {shape[2]:>3}x{shape[3]:<3} x{count:<2}  {cells}")
        total_onednn += count * medians["onednn"]
        total_picked += count * medians[picked]
    print(f"whole forward's 3x3 convolutions: oneDNN only {total_onednn:.2f} s, picked paths "
          f"{total_picked:.2f} s, ratio {total_picked / total_onednn:.3f}")


if __name__ == "__main__":
    main()
