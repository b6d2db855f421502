"""Seconds per megapixel of RealESRGAN x4 (full-size RRDBNet: 64 filters, 23 blocks, random
weights) through the engine's upscale path: a .safetensors file loaded by
``diffusion.upscale.load_upscale_model`` and applied by ``upscale_pixels`` exactly as
ImageUpscaleWithModel does (tiles of 512, overlap 32; a 512² image is one tile).

Prints the wall time of each run and the best one per input megapixel and per output
megapixel (a 512² input gives a 2048² output).

Run: python benchmarks/upscale.py [--size 512] [--repeat 1] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.upscale import load_upscale_model, upscale_pixels  # noqa: E402
from diffusion.upscale.torchvision_compat import import_spandrel  # noqa: E402


def realesrgan_file(folder: Path) -> Path:
    """A RealESRGAN x4 (RRDBNet) file with seeded random weights in spandrel's key layout."""
    import_spandrel()
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
    path = folder / "RealESRGAN_x4_random.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="input side in pixels")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_upscale_model(realesrgan_file(Path(tmp)))
    params = sum(p.numel() for p in model.descriptor.model.parameters())
    print(f"model: {model.architecture} x{model.scale}, {params / 1e6:.2f} M parameters; "
          f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    image = torch.rand((1, args.size, args.size, 3), generator=torch.Generator().manual_seed(0))
    upscale_pixels(model, image[:, :32, :32], device)  # warm-up (allocators, kernels)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = upscale_pixels(model, image, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        print(f"run: {times[-1]:.2f} s -> {tuple(out.shape)}")
    best = min(times)
    mp_in = args.size * args.size / 1e6
    mp_out = mp_in * model.scale ** 2
    print(f"RealESRGAN x4 at {args.size}²: {best:.2f} s = {best / mp_in:.1f} s per input MP, "
          f"{best / mp_out:.2f} s per output MP")


if __name__ == "__main__":
    main()
