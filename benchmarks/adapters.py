"""Per-step overhead of a ControlNet and of a T2I-Adapter over plain sampling.

Full-size SD1.5 UNet, ControlNet (SD1.5 layout) and T2I-Adapter (full SD1.x, 3-channel hint),
random weights, fp32, 512x512 pixels (64x64 latents), batch 1 with CFG (cond and uncond share one
UNet forward, and one ControlNet forward). One "step" is one call of the guided denoiser, as a
sampler makes it; the ControlNet and adapter are bound once per run as in sampling (the adapter's
features are computed on the first step and reused, the ControlNet runs every step). Steps of the
three setups are interleaved; medians are reported with the ratio to plain sampling.

Run (heavy, ~4.5 GB RAM): flock /tmp/heavy.lock python benchmarks/adapters.py [--repeat 3]
       smoke test:        python benchmarks/adapters.py --smoke
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.control import (  # noqa: E402
    AdapterConfig,
    AdapterSpec,
    ControlApplication,
    ControlNetConfig,
    ControlNetModel,
    ControlNetSpec,
    ResidentModule,
    T2IAdapter,
)
from diffusion.guidance import Cond, guided_denoiser  # noqa: E402
from diffusion.sampling.model_sampling import ModelSamplingDiscrete  # noqa: E402
from diffusion.unet import UNetConfig, UNetModel, sd1_config  # noqa: E402


def _smoke() -> UNetConfig:
    return sd1_config().replace(model_channels=32, context_dim=64)


def _denoisers(cfg: UNetConfig, latent: int) -> dict[str, Callable[[], torch.Tensor]]:
    torch.manual_seed(0)
    unet = UNetModel(cfg).eval().requires_grad_(False)
    net = ControlNetModel(ControlNetConfig(cfg)).eval().requires_grad_(False)
    channels = tuple(cfg.model_channels * m for m in cfg.channel_mult)
    adapter = T2IAdapter(AdapterConfig("full", 3 * 64, channels)).eval().requires_grad_(False)
    hint = torch.rand(1, 3, latent * 8, latent * 8)
    apps = {
        "plain": (),
        "controlnet": (ControlApplication(ControlNetSpec(ResidentModule(net), net.config, "cn"),
                                          hint),),
        "t2i_adapter": (ControlApplication(AdapterSpec(ResidentModule(adapter), adapter.config,
                                                       "t2i"), hint),),
    }
    ms = ModelSamplingDiscrete()
    gen = torch.Generator().manual_seed(1)
    pos_text = torch.randn(1, 77, cfg.context_dim, generator=gen)
    neg_text = torch.randn(1, 77, cfg.context_dim, generator=gen)
    x = torch.randn(1, 4, latent, latent, generator=gen)
    sigma = torch.full((1,), 5.0)
    out = {}
    for name, control in apps.items():
        denoise = guided_denoiser(unet, ms, (Cond(pos_text, control=control),),
                                  (Cond(neg_text, control=control),), 7.0,
                                  latent_shape=x.shape)
        out[name] = lambda denoise=denoise: denoise(x, sigma)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny widths, 32x32 latents")
    args = parser.parse_args()
    cfg, latent = (_smoke(), 32) if args.smoke else (sd1_config(), 64)
    steps = _denoisers(cfg, latent)
    times: dict[str, list[float]] = {name: [] for name in steps}
    with torch.inference_mode():
        for step in steps.values():  # warm-up (the adapter computes its features here)
            step()
        for _ in range(args.repeat):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    plain = statistics.median(times["plain"])
    print(f"SD1.5 {'smoke ' if args.smoke else ''}{latent * 8}px, batch 1 + CFG, fp32, "
          f"{torch.get_num_threads()} threads, median of {args.repeat} steps")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:12s} {median * 1000:9.1f} ms/step   x{median / plain:.3f} of plain   "
              f"(+{(median - plain) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
