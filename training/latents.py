"""The cached VAE posterior of every training image, shared by the decoder and UNet stages.

Encoded once with the VAE stage's encoder (which neither later stage changes) and kept in
``DIR/unet/latents.pt`` (fp16 mean and std), where the UNet stage has always found it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from diffusion.loading import load_vae
from training.config import RunConfig
from training.progress import ProgressBar

ENCODE_BATCH = 64


@torch.no_grad()
def encode_latents(cfg: RunConfig) -> tuple[Tensor, Tensor]:
    """Posterior (mean, std) of every training image, cached in ``DIR/unet/latents.pt``."""
    path = cfg.stage_dir("unet") / "latents.pt"
    if path.exists():
        cached = torch.load(path, weights_only=True)
        return cached["mean"], cached["std"]
    vae = load_vae(cfg.stage_dir("vae") / "vae.safetensors").eval()
    vae = vae.to(memory_format=torch.channels_last)  # 1.3x faster on one core
    images = np.load(cfg.stage_dir("data") / "images.npy", mmap_mode="r")
    means, stds = [], []
    bar = ProgressBar("latents", len(images))
    for s in range(0, len(images), ENCODE_BATCH):
        px = torch.from_numpy(np.array(images[s : s + ENCODE_BATCH])).permute(0, 3, 1, 2)
        px = (px.float() / 127.5 - 1.0).contiguous(memory_format=torch.channels_last)
        mean, std = vae.encode_moments(px)  # (B, 4, H/8, W/8)
        means.append(mean.half())
        stds.append(std.half())
        bar.update(s + len(px))
    bar.close()
    mean, std = torch.cat(means), torch.cat(stds)
    path.parent.mkdir(parents=True, exist_ok=True)  # the decoder stage runs first
    torch.save({"mean": mean, "std": std}, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)  # atomic: a resumed run never reads half a file
    return mean, std
