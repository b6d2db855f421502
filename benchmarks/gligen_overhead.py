"""GLIGEN's per-step overhead over plain sampling at 512 px: a full-size SD1.5 UNet and the SD1.4
text-box GLIGEN model (16 fusers and the position net), random weights, fp32 on the CPU.

One step is one call of the guided denoiser with CFG (a positive prompt and a negative one), as
the samplers make it:

* plain: both sides share one batch-2 forward;
* plain, split: the same with one side per forward (``max_batch_area``), the split GLIGEN forces;
* grounded: two GLIGEN boxes on the positive; it runs in a forward of its own with the fusers
  (ComfyUI never batches an entry with patches), the negative in another.

Interleaved, median of ``--repeat``; prints seconds per step and the ratios grounded / plain and
grounded / plain-split (the fusers' own cost).

Run: flock /tmp/heavy.lock python benchmarks/gligen_overhead.py [--latent 64] [--repeat 3]
     python benchmarks/gligen_overhead.py --smoke   (tiny models, seconds)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.gligen import GligenBox, GligenModel, GligenPosition, config_for_unet  # noqa: E402
from diffusion.guidance import Cond, guided_denoiser  # noqa: E402
from diffusion.sampling import ModelSamplingDiscrete  # noqa: E402
from diffusion.unet import UNetConfig, UNetModel, sd1_config  # noqa: E402

Step = Callable[[], torch.Tensor]


def _smoke_config() -> UNetConfig:
    return sd1_config().replace(model_channels=32, channel_mult=(1, 2), num_res_blocks=(1, 1),
                                transformer_depth=(1, 0), transformer_depth_output=(0, 0, 1, 1),
                                context_dim=64)


def _models(cfg: UNetConfig) -> tuple[UNetModel, GligenModel]:
    torch.manual_seed(0)
    unet = UNetModel(cfg).eval().requires_grad_(False)
    gligen = GligenModel(config_for_unet(cfg, 768, cfg.context_dim)).eval().requires_grad_(False)
    with torch.no_grad():  # open the gates: the fusers' output reaches the UNet
        for name, param in gligen.named_parameters():
            if name.endswith(("alpha_attn", "alpha_dense")):
                param.fill_(0.5)
    return unet, gligen


def _steps(unet: UNetModel, gligen: GligenModel, latent: int) -> dict[str, Step]:
    gen = torch.Generator().manual_seed(1)
    width = unet.config.context_dim
    positive = Cond(torch.randn(1, 77, width, generator=gen))
    negative = Cond(torch.randn(1, 77, width, generator=gen))
    boxes = (GligenBox(torch.randn(1, width, generator=gen), latent // 2, latent // 2, 0, 0),
             GligenBox(torch.randn(1, width, generator=gen), latent // 4, latent, latent // 2, 0))
    grounded = Cond(positive.cross_attn, gligen=GligenPosition(gligen, boxes))
    shape = (1, 4, latent, latent)
    x, sigma = torch.randn(shape, generator=gen) * 5.0, torch.full((1,), 5.0)
    ms = ModelSamplingDiscrete()

    def step(pos: Cond, area: int | None) -> Step:
        denoise = guided_denoiser(unet, ms, [pos], [negative], 7.0, latent_shape=shape,
                                  max_batch_area=area)
        return lambda: denoise(x, sigma)

    one_side = latent * latent
    return {"plain": step(positive, None), "plain, split": step(positive, one_side),
            "grounded": step(grounded, None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=None,
                        help="latent side (default 64: 512 px; 16 with --smoke)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny models, finishes in seconds")
    args = parser.parse_args()
    cfg = _smoke_config() if args.smoke else sd1_config()
    args.latent = args.latent or (16 if args.smoke else 64)
    unet, gligen = _models(cfg)
    steps = _steps(unet, gligen, args.latent)
    times: dict[str, list[float]] = {name: [] for name in steps}
    with torch.inference_mode():
        for fn in steps.values():  # warm-up
            fn()
        for _ in range(args.repeat):
            for name, fn in steps.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    fusers = sum(p.numel() for p in gligen.parameters()) / 1e6
    print(f"{'smoke' if args.smoke else 'sd15'} UNet, GLIGEN {fusers:.0f}M params, "
          f"{args.latent * 8} px ({args.latent}x{args.latent} latent), cfg, fp32 CPU, "
          f"{torch.get_num_threads()} threads, median of {args.repeat}")
    for name, seconds in median.items():
        print(f"  {name:<13} {seconds:8.3f} s/step")
    print(f"  grounded / plain {median['grounded'] / median['plain']:.3f}   "
          f"grounded / plain, split {median['grounded'] / median['plain, split']:.3f}")
    load = os.getloadavg()  # other jobs on the machine slow every setup alike
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
