"""One VAE decode: ours vs diffusers' AutoencoderKL on the same weights, interleaved.

Full-size SD VAE (SD1.x/2.x/SDXL share the architecture), fp32, batch 1, 64x64 latents (512x512
pixels; ``--latent 128`` for 1024x1024). Both decoders share the very same parameter tensors
(diffusers' converter only renames keys, loaded with ``assign=True``). Reports achieved FLOP/s
over the machine's fp32 matmul rate (measured every round), FLOPs counted on diffusers' decode
(direct convolutions), as ``unet_step.py`` does for the UNet (issue 22: the UNet and the VAE at
>= 0.80 of the matmul rate at 64x64 latents).

Run: python benchmarks/vae_decode.py [--latent 64|128] [--repeat 5] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.diffusers_ref import diffusers_twin, vae_config  # noqa: E402
from benchmarks.step_timing import report, timed_rounds  # noqa: E402
from diffusion.vae import AutoencoderKL, VAEConfig  # noqa: E402


def build_pair(cfg: VAEConfig) -> tuple[AutoencoderKL, torch.nn.Module]:
    import diffusers
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    torch.manual_seed(0)
    ours = AutoencoderKL(cfg).eval().requires_grad_(False)
    ref = diffusers_twin(ours, "first_stage_model.", diffusers.AutoencoderKL,
                         vae_config(cfg, 0.18215), convert_ldm_vae_checkpoint)
    return ours, ref


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=64, choices=(32, 64, 128))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny VAE, finishes in seconds")
    args = parser.parse_args()
    cfg = VAEConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1) if args.smoke else VAEConfig()
    latent = 16 if args.smoke else args.latent
    ours, ref = build_pair(cfg)
    z = torch.randn(1, cfg.z_channels, latent, latent, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        with FlopCounterMode(display=False) as executed:
            got = ours.decode(z)
        with FlopCounterMode(display=False) as counter:
            want = ref.decode(z).sample
        rel = float((got - want).abs().max() / want.abs().max())
        times, peaks = timed_rounds({"ours": lambda: ours.decode(z),
                                     "diffusers": lambda: ref.decode(z)}, args.repeat)
    pixels = latent * cfg.downscale
    print(f"vae decode {'smoke' if args.smoke else 'sd'} batch 1 latent {latent}x{latent} -> "
          f"{pixels}x{pixels} fp32, {torch.get_num_threads()} threads")
    report(times, peaks, counter.get_total_flops(), executed.get_total_flops(), rel, "decode")


if __name__ == "__main__":
    main()
