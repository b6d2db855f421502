"""What the add-on stages (``controlnet``, ``lora``) train against: the base demo model, frozen,
and their own procedural images encoded by its VAE.

The base is ``DIR/latentgraph-shapes-v1.safetensors`` when this run's UNet stage exported one,
otherwise the embedded model (``diffusion.embedded``): an add-on is trained for the file it will
be used with, and needs none of the base stages' folders. Each add-on stage draws its own images
(``shapes_data``, seed ``run seed + DATA_SEED_OFFSET[stage]``, train-mode combinations only, so
the base model's held-out combinations stay unseen) and caches their VAE posteriors in
``DIR/<stage>/latents.pt``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from diffusion.embedded import DEMO_CHECKPOINT, EMBEDDED_PATHS
from diffusion.latent_format import SD15
from diffusion.loading import load_checkpoint
from diffusion.text.clip import CLIPTextModel
from diffusion.unet.model import UNetModel
from diffusion.vae.model import AutoencoderKL
from training.config import RunConfig
from training.progress import ProgressBar

logger = logging.getLogger(__name__)

DATA_SEED_OFFSET = {"controlnet": 1, "lora": 2}
ENCODE_BATCH = 64


@dataclass(frozen=True, eq=False)
class BaseModel:
    """The frozen base: UNet, text encoder (SD1.x ``clip_l`` slot) and VAE, fp32, eval mode."""

    path: Path
    unet: UNetModel
    text: CLIPTextModel
    vae: AutoencoderKL


def base_checkpoint(cfg: RunConfig) -> Path:
    """This run's exported base model if there is one, else the embedded model."""
    own = cfg.out / DEMO_CHECKPOINT
    return own if own.is_file() else EMBEDDED_PATHS["checkpoints"] / DEMO_CHECKPOINT


def load_base(path: Path) -> BaseModel:
    ckpt = load_checkpoint(path)
    if ckpt.vae is None or len(ckpt.text_encoders) != 1 or ckpt.prediction != "v":
        raise ValueError(f"{path}: not a demo-model checkpoint (vae, one text encoder, v-pred)")
    (_, text), = ckpt.text_encoders.values()
    if not isinstance(text, CLIPTextModel):
        raise ValueError(f"{path}: text encoder is {type(text).__name__}, not CLIPTextModel")
    for module in (ckpt.unet, text, ckpt.vae):
        module.eval().requires_grad_(False)
    logger.info("add-on base model: %s", path)
    return BaseModel(path, ckpt.unet, text, ckpt.vae)


@torch.no_grad()
def encode_images(vae: AutoencoderKL, images: np.ndarray, name: str) -> tuple[Tensor, Tensor]:
    """Posterior (mean, std) fp16 of (N, H, W, 3) uint8 images."""
    means, stds = [], []
    bar = ProgressBar(name, len(images))
    for s in range(0, len(images), ENCODE_BATCH):
        px = torch.from_numpy(np.array(images[s : s + ENCODE_BATCH])).permute(0, 3, 1, 2)
        mean, std = vae.encode_moments(px.float() / 127.5 - 1.0)  # (B, 4, H/8, W/8)
        means.append(mean.half())
        stds.append(std.half())
        bar.update(s + len(px))
    bar.close()
    return torch.cat(means), torch.cat(stds)


def cached_latents(folder: Path, vae: AutoencoderKL, images: np.ndarray) -> tuple[Tensor, Tensor]:
    """``encode_images`` cached in ``folder/latents.pt`` (atomic; reused when the count fits)."""
    path = folder / "latents.pt"
    if path.exists():
        cached = torch.load(path, weights_only=True)
        if len(cached["mean"]) == len(images):
            return cached["mean"], cached["std"]
        logger.info("%s holds %d latents, not %d: encoding again", path, len(cached["mean"]),
                    len(images))
    mean, std = encode_images(vae, images, f"{folder.name} latents")
    torch.save({"mean": mean, "std": std}, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    return mean, std


def sample_x0(mean: Tensor, std: Tensor, gen: torch.Generator) -> Tensor:
    """Scaled latents drawn from the posterior: SD1.x's 0.18215 (unit std for this VAE)."""
    mean, std = mean.float(), std.float()
    return SD15.scale_factor * (mean + std * torch.randn(mean.shape, generator=gen))
