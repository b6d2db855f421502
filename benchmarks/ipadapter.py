"""Per-step cost of an IP-Adapter over plain sampling: full-size SD1.5 UNet (random weights),
512x512 (64x64 latents), batch 2 (positive and negative rows, as CFG runs them), fp32 on CPU.

Each step is one UNet forward; plain (no hooks) and adapted forwards are interleaved and their
medians compared, for the base adapter (4 image tokens) and the plus adapter (16 tokens, full-size
Resampler), both with random weights in the published SD1.5 shapes. The one-off cost of applying
an adapter (projecting the image tokens to every layer's keys and values) is reported apart.

Run: flock /tmp/heavy.lock python benchmarks/ipadapter.py [--latent 64] [--repeat 3]
     [--device cpu|cuda] [--smoke]
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

from diffusion.ipadapter import (  # noqa: E402
    AdapterImages,
    Application,
    IPAdapterConfig,
    IPAdapterModel,
    WeightSchedule,
    attention_processor,
    cross_attention_slots,
    spatial_transformer_count,
)
from diffusion.ipadapter.model import ResamplerConfig  # noqa: E402
from diffusion.unet import AttentionHooks, UNetConfig, UNetModel, sd1_config  # noqa: E402
from diffusion.vision import VIT_H_14  # noqa: E402


def adapter_config(kind: str, cfg: UNetConfig) -> IPAdapterConfig:
    layers = tuple((s.key, s.inner) for s in cross_attention_slots(cfg))
    if kind == "base":
        return IPAdapterConfig("base", VIT_H_14.projection_dim, cfg.context_dim, 4, layers)
    dim = cfg.context_dim
    resampler = ResamplerConfig(dim=dim, depth=4, heads=dim // 64, num_queries=16, ff_mult=4)
    return IPAdapterConfig("plus", VIT_H_14.width, cfg.context_dim, 16, layers, resampler)


def clip_input(config: IPAdapterConfig) -> torch.Tensor:
    gen = torch.Generator().manual_seed(2)
    if config.kind == "base":
        return torch.randn(1, config.clip_dim, generator=gen)
    return torch.randn(1, VIT_H_14.num_positions, config.clip_dim, generator=gen)


def timed(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="a narrow UNet, seconds")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cfg = sd1_config()
    if args.smoke:
        cfg = cfg.replace(model_channels=64, context_dim=128, num_heads=2)
    torch.manual_seed(0)
    unet = UNetModel(cfg).eval().requires_grad_(False).to(device)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, args.latent, args.latent, generator=gen).to(device)
    t = torch.tensor([500.0, 500.0], device=device)
    context = torch.randn(2, 77, cfg.context_dim, generator=gen).to(device)
    sigmas = torch.tensor([3.0, 3.0], device=device)
    slots = cross_attention_slots(cfg)
    schedule = WeightSchedule(1.0, "linear", spatial_transformer_count(cfg))
    runs: dict[str, Callable[[], object]] = {"plain": lambda: unet(x, t, context)}
    print(f"SD1.5 UNet{' (smoke)' if args.smoke else ''}, batch 2, latent "
          f"{args.latent}x{args.latent} ({args.latent * 8} px), {device}, fp32")
    for kind in ("base", "plus"):
        config = adapter_config(kind, cfg)
        adapter = IPAdapterModel(config).eval().requires_grad_(False).to(device)
        cond = clip_input(config)
        images = AdapterImages(cond, torch.zeros_like(cond))
        start = time.perf_counter()
        proc = attention_processor(adapter, images, slots, Application(schedule))
        print(f"apply {kind}: {time.perf_counter() - start:.3f} s once "
              f"({len(proc.images)} layers)")
        hooks = AttentionHooks((proc,), (0, 1), sigmas=sigmas)
        runs[kind] = lambda hooks=hooks: unet(x, t, context, attention=hooks)
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.inference_mode():
        for fn in runs.values():  # warm-up
            fn()
        for _ in range(args.repeat):
            for name, fn in runs.items():
                times[name].append(timed(fn, sync))
    plain = statistics.median(times["plain"])
    print(f"plain: {plain:.3f} s/step")
    for kind in ("base", "plus"):
        step = statistics.median(times[kind])
        print(f"ip-adapter {kind}: {step:.3f} s/step, overhead {step - plain:+.3f} s "
              f"({(step / plain - 1) * 100:+.1f} %), ratio {step / plain:.3f}")


if __name__ == "__main__":
    main()
