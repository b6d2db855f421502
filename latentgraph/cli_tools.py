"""``latentgraph make-checkpoint``: random weights in a real single-file layout."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ARCH_CHOICES = ["sd15", "sd15-inpaint", "sd15-ip2p", "sd21", "sd21-v", "sd2-inpaint", "sdxl",
                "sdxl-refiner", "sd21-unclip-h", "sd21-unclip-l"]


def add_make_checkpoint_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "make-checkpoint", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="write a checkpoint of random weights in a real single-file layout (for tests)",
    )
    parser.add_argument("--arch", required=True, choices=ARCH_CHOICES)
    parser.add_argument("--tiny", action="store_true",
                        help="narrow the model within its family (fast 64x64 generations)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", dest="file_format", default="safetensors",
                        choices=["safetensors", "ckpt"])
    parser.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    parser.add_argument("--layout-json", action="store_true",
                        help="write the {key: shape} manifest instead of weights")
    parser.add_argument("out", type=Path)


def make_checkpoint_command(args: argparse.Namespace) -> int:
    from diffusion.checkpoint_maker import make_checkpoint

    started = time.perf_counter()
    try:
        path = make_checkpoint(
            args.arch, args.out, tiny=args.tiny, seed=args.seed,
            file_format=args.file_format, dtype=args.dtype, layout_json=args.layout_json,
        )
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    size = path.stat().st_size / 2**20
    print(f"{path} ({size:.1f} MiB, {time.perf_counter() - started:.1f} s)")
    return 0
