"""Per-step overhead of a ControlNet, a T2I-Adapter and a style model over plain sampling.

Full-size SD1.5 UNet, ControlNet (SD1.5 layout) and T2I-Adapter (full SD1.x, 3-channel hint),
random weights, fp32, 512x512 pixels (64x64 latents), batch 1 with CFG (cond and uncond share one
UNet forward, and one ControlNet forward). One "step" is one call of the guided denoiser, as a
sampler makes it; the ControlNet and adapter are bound once per run as in sampling (the adapter's
features are computed on the first step and reused, the ControlNet runs every step). A style
model (StyleModelApply) does its work once, when applied; sampling then sees its 8 tokens
appended to the positive prompt's 77, so positive (85 tokens) and negative (77) can no longer
share a forward (ComfyUI repeats contexts only to a common length of at most 4x): the
``style_model`` row is that run, with random tokens in place of the model's. Steps of the setups
are interleaved; medians are reported with the ratio to plain sampling.

Run (heavy, ~4.5 GB RAM): flock /tmp/heavy.lock python benchmarks/adapters.py [--repeat 3]
       smoke test:        python benchmarks/adapters.py --smoke
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.step_timing import interleaved_times, print_overheads  # noqa: E402
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
from diffusion.style import StyleConfig  # noqa: E402
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
    style = torch.randn(1, StyleConfig().num_token, cfg.context_dim, generator=gen)
    sides = {name: (Cond(pos_text, control=control), Cond(neg_text, control=control))
             for name, control in apps.items()}
    sides["style_model"] = (Cond(torch.cat([pos_text, style], dim=1)), Cond(neg_text))
    out = {}
    for name, (positive, negative) in sides.items():
        denoise = guided_denoiser(unet, ms, (positive,), (negative,), 7.0, latent_shape=x.shape)
        out[name] = lambda denoise=denoise: denoise(x, sigma)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny widths, 32x32 latents")
    args = parser.parse_args()
    cfg, latent = (_smoke(), 32) if args.smoke else (sd1_config(), 64)
    steps = _denoisers(cfg, latent)
    times = interleaved_times(steps, args.repeat)
    print(f"SD1.5 {'smoke ' if args.smoke else ''}{latent * 8}px, batch 1 + CFG, fp32, "
          f"{torch.get_num_threads()} threads, median of {args.repeat} steps")
    print_overheads(times)


if __name__ == "__main__":
    main()
