"""Per-step overhead of unCLIP image conditioning over plain sampling on an unCLIP model.

Full-size SD2.1 unCLIP-H UNet (SD2 widths, an ADM input of 2 x 1024: the noised CLIP ViT-H image
embedding and its noise level's embedding), random weights, fp32, 512x512 pixels (64x64
latents), batch 1 with CFG. ``plain`` samples the unCLIP model without unCLIP conditioning (its
ADM input all zeros, as ComfyUI feeds it); ``unclip`` adds one unCLIPConditioning entry
(strength 1, noise_augmentation 0.1) to the positive side: the embedding is noise-augmented
and joined with its level embedding, then fed through the same ADM layers. One "step" is one
call of the guided denoiser; steps of the two setups are interleaved, medians reported.

CLIP vision encoding (CLIPVisionEncode), style models, Revision and PhotoMaker run once per node
run, before sampling, and leave the UNet's inputs the same shape; this is the one image adapter
of issue "Adapters" whose work recurs inside sampling besides ControlNet, T2I-Adapter, the style
model's extra tokens (benchmarks/adapters.py), IP-Adapter (ipadapter.py) and GLIGEN
(gligen_overhead.py).

Run (heavy, ~4 GB RAM): flock /tmp/heavy.lock python benchmarks/unclip_overhead.py [--repeat 3]
       smoke test:        python benchmarks/unclip_overhead.py --smoke
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.step_timing import interleaved_times, print_overheads  # noqa: E402
from diffusion.guidance import Cond, guided_denoiser  # noqa: E402
from diffusion.guidance.cond import UnclipEntry  # noqa: E402
from diffusion.guidance.unclip import UNCLIP_MERGE, AdmNoise, NoiseAugmentor  # noqa: E402
from diffusion.sampling.model_sampling import ModelSamplingDiscrete  # noqa: E402
from diffusion.unet import UNetConfig, UNetModel, sd2_config  # noqa: E402

EMBED = 1024  # CLIP ViT-H/14's projection width


def _config(smoke: bool) -> tuple[UNetConfig, int, int]:
    if smoke:
        return sd2_config().replace(model_channels=32, context_dim=64, num_head_channels=16,
                                    adm_in_channels=2 * 32), 32, 32
    return sd2_config().replace(adm_in_channels=2 * EMBED), EMBED, 64


def _denoisers(cfg: UNetConfig, embed: int, latent: int
               ) -> dict[str, Callable[[], torch.Tensor]]:
    torch.manual_seed(0)
    unet = UNetModel(cfg).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    pos_text = torch.randn(1, 77, cfg.context_dim, generator=gen)
    neg_text = torch.randn(1, 77, cfg.context_dim, generator=gen)
    image = UnclipEntry(torch.randn(1, embed, generator=gen), 1.0, 0.1)
    x = torch.randn(1, 4, latent, latent, generator=gen)
    sigma = torch.full((1,), 5.0)
    noise = AdmNoise(NoiseAugmentor(embed), seed=3, merge=UNCLIP_MERGE)
    sides = {"plain": Cond(pos_text), "unclip": Cond(pos_text, unclip=(image,))}
    out = {}
    for name, positive in sides.items():
        denoise = guided_denoiser(unet, ModelSamplingDiscrete(), (positive,), (Cond(neg_text),),
                                  7.0, latent_shape=x.shape, adm="unclip", adm_noise=noise)
        out[name] = lambda denoise=denoise: denoise(x, sigma)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny widths, 32x32 latents")
    args = parser.parse_args()
    cfg, embed, latent = _config(args.smoke)
    steps = _denoisers(cfg, embed, latent)
    times = interleaved_times(steps, args.repeat)
    print(f"SD2.1 unCLIP-H {'smoke ' if args.smoke else ''}{latent * 8}px, batch 1 + CFG, fp32, "
          f"{torch.get_num_threads()} threads, median of {args.repeat} steps")
    print_overheads(times)


if __name__ == "__main__":
    main()
