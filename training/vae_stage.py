"""The VAE stage: a narrow SD1.x-layout KL autoencoder (f=8) trained on crops of the shapes data.

It is fully convolutional (plus the mid-block attention), so it trains on random crops and runs at
the full resolution. At the end the latent scale is folded into the 1x1 ``quant_conv`` /
``post_quant_conv`` so that SD1.x's fixed factor 0.18215 gives unit-variance latents, and the
weights are written as a standalone VAE file in the LDM key layout that ``load_vae`` reads.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor

from diffusion.latent_format import SD15
from diffusion.loading import load_vae
from diffusion.vae.model import AutoencoderKL, VAEConfig
from training.checkpoint_state import load_state, save_state
from training.config import RunConfig
from training.progress import LossLog, ProgressBar
from training.schedules import warmup_cosine

logger = logging.getLogger(__name__)

# f=8, 2.2M params. 64 channels at full resolution, not 32: GroupNorm's 32 groups (fixed by the
# layout) would hold one channel each and erase a flat region's colour (seen: a 32-channel VAE
# decoded colours by zero-padding artefacts at the borders, PSNR 11.9 dB).
VAE_CONFIG = VAEConfig(ch=64, ch_mult=(1, 1, 1, 2), num_res_blocks=1)
VAE_STEPS = 1500  # first cosine cycle, at --steps-scale 1
VAE_RESTART_STEPS = 1000  # a second cycle from LR / 2: after the first, shape colours still
# drifted (red decoded orange-ish) while backgrounds and outlines were right (24.3 dB)
BATCH = 8
CROP = 64  # most 64x64 crops hold an edge; 1.0 s/step on one core, ~0.6 s on two
LR = 1e-3  # 2e-3 plateaued at the mean colour until the cosine decay brought it below 1.5e-3
LOGVAR_INIT = -8.0  # the posterior starts nearly deterministic: the decoder sees a clean latent
KL_WEIGHT = 1e-6
SAVE_EVERY = 50
SCALE_IMAGES = 256  # images used to measure the latent std and the PSNR


def _batch(images: np.ndarray, seed: int, step: int) -> Tensor:
    """(BATCH, 3, CROP, CROP) in [-1, 1]: random images and crops drawn from (seed, step)."""
    rng = np.random.default_rng([seed, step, 0xAE])
    side = images.shape[1]
    idx = np.sort(rng.integers(len(images), size=BATCH))
    ys, xs = rng.integers(side - CROP + 1, size=(2, BATCH))
    crops = np.stack(
        [images[i, y : y + CROP, x : x + CROP] for i, y, x in zip(idx, ys, xs, strict=True)]
    )
    pixels = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return pixels.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def _init_posterior(vae: AutoencoderKL) -> None:
    """Log-variance half of ``quant_conv``: small weights, bias ``LOGVAR_INIT`` (std ~0.02)."""
    z = vae.config.z_channels
    vae.quant_conv.weight[z:] *= 0.1
    vae.quant_conv.bias[z:] = LOGVAR_INIT


def _lr(step: int, first: int) -> float:
    """Warm-up and cosine over the first ``first`` steps, then a cosine restart at LR / 2."""
    if step < first:
        return warmup_cosine(step, first, LR)
    restart = step - first
    return LR / 2 * 0.5 * (1 + math.cos(math.pi * restart / max(1, cycle_steps(first))))


def cycle_steps(first: int) -> int:
    """Length of the restart cycle for a first cycle of ``first`` steps."""
    return max(1, round(first * VAE_RESTART_STEPS / VAE_STEPS))


def _loss(vae: AutoencoderKL, pixels: Tensor, noise_seed: int) -> tuple[Tensor, Tensor]:
    mean, std = vae.encode_moments(pixels)
    gen = torch.Generator().manual_seed(noise_seed)
    z = mean + std * torch.randn(mean.shape, generator=gen)
    recon = vae.decode(z)
    rec = F.l1_loss(recon, pixels) + F.mse_loss(recon, pixels)
    kl = 0.5 * (mean.square() + std.square() - 1.0 - 2.0 * std.log()).mean()
    return rec, kl


def _resume(folder: Path, vae: AutoencoderKL, opt: torch.optim.Optimizer) -> int:
    state = load_state(folder, vae, opt, "vae")
    return 0 if state is None else int(state["step"])


def _save(folder: Path, vae: AutoencoderKL, opt: torch.optim.Optimizer, step: int) -> None:
    save_state(folder, vae, opt, step)


def _train(cfg: RunConfig, vae: AutoencoderKL, images: np.ndarray, first: int) -> float:
    """Trains both cycles from the saved state; returns seconds per step of this run."""
    total = first + cycle_steps(first)
    folder = cfg.stage_dir("vae")
    opt = torch.optim.Adam(vae.parameters(), lr=LR)
    start = _resume(folder, vae, opt)
    log = LossLog(folder / "loss.jsonl")
    log.truncate(start)
    bar = ProgressBar("vae", total, start)
    t0 = time.perf_counter()
    for step in range(start, total):
        for group in opt.param_groups:
            group["lr"] = _lr(step, first)
        rec, kl = _loss(vae, _batch(images, cfg.seed, step), cfg.seed * 1_000_003 + step)
        opt.zero_grad(set_to_none=True)
        (rec + KL_WEIGHT * kl).backward()
        opt.step()
        log.append({"step": step + 1, "rec": rec.item(), "kl": kl.item(), "lr": _lr(step, first)})
        bar.update(step + 1, rec=rec.item())
        if (step + 1) % SAVE_EVERY == 0 or step + 1 == total:
            _save(folder, vae, opt, step + 1)
    bar.close()
    return (time.perf_counter() - t0) / max(1, total - start)


def _pixels(images: np.ndarray) -> Tensor:
    return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


@torch.no_grad()
def fold_latent_scale(vae: AutoencoderKL, latent_std: float) -> float:
    """Rescales the posterior so ``SD15.scale_factor * latents`` has unit std; returns the factor.

    ``quant_conv``'s mean half is multiplied by k, its log-variance half shifted by 2 ln k, and
    ``post_quant_conv`` divided by k on its input, so decode(encode(x)) is unchanged.
    """
    k = 1.0 / (SD15.scale_factor * latent_std)
    z = vae.config.z_channels
    vae.quant_conv.weight[:z] *= k
    vae.quant_conv.bias[:z] *= k
    vae.quant_conv.bias[z:] += 2.0 * math.log(k)
    vae.post_quant_conv.weight /= k
    return k


@torch.no_grad()
def psnr(vae: AutoencoderKL, images: np.ndarray) -> float:
    """PSNR (dB, pixels in [0, 1]) of posterior-mean reconstructions at full resolution."""
    errors = []
    for start in range(0, len(images), 32):
        pixels = _pixels(images[start : start + 32])
        recon = vae.decode(vae.encode(pixels)).clamp(-1, 1)
        errors.append(((recon - pixels) / 2).square().mean(dim=(1, 2, 3)))
    mse = torch.cat(errors).mean().item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def latent_std(vae: AutoencoderKL, images: np.ndarray) -> float:
    means = [vae.encode(_pixels(images[s : s + 32])) for s in range(0, len(images), 32)]
    return torch.cat(means).std().item()


def run_vae(cfg: RunConfig) -> dict[str, object]:
    folder = cfg.stage_dir("vae")
    images = np.load(cfg.stage_dir("data") / "images.npy", mmap_mode="r")
    torch.manual_seed(cfg.seed)
    vae = AutoencoderKL(VAE_CONFIG).to(memory_format=torch.channels_last)
    _init_posterior(vae)
    first = cfg.scaled(VAE_STEPS)
    total = first + cycle_steps(first)
    step_s = _train(cfg, vae, images, first)
    vae.eval()
    held = images[-min(SCALE_IMAGES, len(images)) :]
    std = latent_std(vae, held)
    k = fold_latent_scale(vae, std)
    path = folder / "vae.safetensors"
    state = {key: t.detach().contiguous() for key, t in vae.state_dict().items()}
    save_file(state, str(path), metadata={"latentgraph.stage": "vae", "seed": str(cfg.seed)})
    loaded = load_vae(path)  # the ordinary loader, as the engine will read it
    quality = psnr(loaded, held)
    scaled_std = latent_std(loaded, held) * SD15.scale_factor
    logger.info("vae: %.2f dB PSNR, scaled latent std %.3f", quality, scaled_std)
    return {"steps": total, "s_per_step": round(step_s, 4),
            "psnr_db_last_train_images": round(quality, 2), "raw_latent_std": round(std, 4),
            "folded_scale": round(k, 4),
            "scaled_latent_std": round(scaled_std, 4), "file": path.name}
