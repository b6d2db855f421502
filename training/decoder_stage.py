"""The decoder stage: fine-tunes the VAE's decoder on the frozen encoder's latents.

After the VAE stage the backgrounds and outlines came back right but small shapes' colours
drifted (red decoded orange-ish, black greenish: read back by the adherence reader, 81 % of shape
colours in 240 reconstructions were right, every background was). The encoder, and with it the
latent space the UNet learns, stays fixed: this stage trains only ``post_quant_conv`` and the
decoder, on whole 128x128 pictures (GroupNorm sees the statistics it sees at inference) decoded
from posterior samples of the cached training latents (``DIR/unet/latents.pt``, which the UNet
stage reuses), with the shape's pixels weighted ``SHAPE_WEIGHT`` times.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor

from diffusion.loading import load_vae
from diffusion.vae.model import AutoencoderKL
from training.checkpoint_state import load_state, save_state
from training.config import RunConfig
from training.latents import encode_latents
from training.progress import LossLog, ProgressBar
from training.text_stage import held_count

logger = logging.getLogger(__name__)

DECODER_STEPS = 400  # at --steps-scale 1: ~1 s/step on two threads
BATCH = 4
LR = 3e-4
SHAPE_WEIGHT = 5.0
SHAPE_DISTANCE = 30.0  # RGB distance from the corner (always background) marking shape pixels
SAVE_EVERY = 50


def _pixels(images: np.ndarray, idx: np.ndarray) -> Tensor:
    px = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2)
    return px.float() / 127.5 - 1.0  # (B, 3, H, W)


def _weights(pixels: Tensor) -> Tensor:
    """(B, 1, H, W): ``SHAPE_WEIGHT`` on the shape's pixels, 1 on the background."""
    corner = pixels[:, :, :1, :1]  # the top-left pixel is background in every layout
    far = (pixels - corner).square().sum(1, keepdim=True).sqrt() * 127.5 > SHAPE_DISTANCE
    return 1.0 + (SHAPE_WEIGHT - 1.0) * far.float()


def _loss(vae: AutoencoderKL, z: Tensor, pixels: Tensor) -> Tensor:
    recon = vae.decode(z)  # (B, 3, H, W)
    w = _weights(pixels)
    err = (recon - pixels).abs() + (recon - pixels).square()
    return (w * err).mean() / w.mean()


def _lr(step: int, total: int) -> float:
    return LR * 0.5 * (1 + math.cos(math.pi * step / max(1, total)))


def _trainable(vae: AutoencoderKL) -> list[torch.nn.Parameter]:
    for p in vae.parameters():
        p.requires_grad_(False)
    params = [*vae.post_quant_conv.parameters(), *vae.decoder.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def _resume(folder: Path, vae: AutoencoderKL, opt: torch.optim.Optimizer) -> int:
    state = load_state(folder, vae, opt, "decoder")
    return 0 if state is None else int(state["step"])


def _save(folder: Path, vae: AutoencoderKL, opt: torch.optim.Optimizer, step: int) -> None:
    save_state(folder, vae, opt, step)


def _train(cfg: RunConfig, vae: AutoencoderKL, latents: tuple[Tensor, Tensor],
           images: np.ndarray, total: int) -> float:
    folder = cfg.stage_dir("decoder")
    opt = torch.optim.Adam(_trainable(vae), lr=LR)
    start = _resume(folder, vae, opt)
    log = LossLog(folder / "loss.jsonl")
    log.truncate(start)
    trainable = len(images) - held_count(len(images))
    bar = ProgressBar("decoder", total, start)
    t0 = time.perf_counter()
    for step in range(start, total):
        for group in opt.param_groups:
            group["lr"] = _lr(step, total)
        rng = np.random.default_rng([cfg.seed, step, 0xDEC])
        idx = np.sort(rng.choice(trainable, size=min(BATCH, trainable), replace=False))
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        mean, std = latents[0][idx].float(), latents[1][idx].float()
        z = mean + std * torch.randn(mean.shape, generator=gen)  # (B, 4, H/8, W/8)
        loss = _loss(vae, z, _pixels(images, idx))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.append({"step": step + 1, "loss": loss.item(), "lr": _lr(step, total)})
        bar.update(step + 1, loss=loss.item())
        if (step + 1) % SAVE_EVERY == 0 or step + 1 == total:
            _save(folder, vae, opt, step + 1)
    bar.close()
    return (time.perf_counter() - t0) / max(1, total - start)


@torch.no_grad()
def shape_psnr(vae: AutoencoderKL, latents: tuple[Tensor, Tensor], images: np.ndarray,
               idx: np.ndarray) -> tuple[float, float]:
    """(PSNR of whole pictures, PSNR of shape pixels only) in dB, decoded posterior means."""
    errs, shape_errs = [], []
    for part in np.array_split(idx, max(1, len(idx) // 32)):
        px = _pixels(images, part)
        recon = vae.decode(latents[0][part].float()).clamp(-1, 1)
        sq = ((recon - px) / 2).square()
        errs.append(sq.mean().item())
        mask = _weights(px) > 1
        shape_errs.append((sq * mask).sum().item() / max(1.0, 3 * mask.sum().item()))
    return (10 * math.log10(1 / max(np.mean(errs), 1e-12)),
            10 * math.log10(1 / max(np.mean(shape_errs), 1e-12)))


def run_decoder(cfg: RunConfig) -> dict[str, object]:
    folder = cfg.stage_dir("decoder")
    started = time.perf_counter()
    latents = encode_latents(cfg)  # cached in DIR/unet/ for the UNet stage
    encode_s = time.perf_counter() - started
    images = np.load(cfg.stage_dir("data") / "images.npy", mmap_mode="r")
    vae = load_vae(cfg.stage_dir("vae") / "vae.safetensors")
    held = np.arange(len(images) - held_count(len(images)), len(images))
    before = shape_psnr(vae.eval(), latents, images, held)
    total = cfg.scaled(DECODER_STEPS)
    step_s = _train(cfg, vae.train(), latents, images, total)
    vae.eval()
    path = folder / "vae.safetensors"
    state = {key: t.detach().contiguous() for key, t in vae.state_dict().items()}
    save_file(state, str(path), metadata={"latentgraph.stage": "decoder", "seed": str(cfg.seed)})
    after = shape_psnr(load_vae(path), latents, images, held)
    logger.info("decoder: PSNR %.2f -> %.2f dB, shape pixels %.2f -> %.2f dB",
                before[0], after[0], before[1], after[1])
    return {"steps": total, "s_per_step": round(step_s, 4), "encode_s": round(encode_s, 1),
            "psnr_db_before": round(before[0], 2), "psnr_db_after": round(after[0], 2),
            "shape_psnr_db_before": round(before[1], 2), "shape_psnr_db_after": round(after[1], 2),
            "file": path.name}
