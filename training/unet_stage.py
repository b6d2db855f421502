"""The UNet stage: a narrow SD1.x-layout UNet on the frozen mini-CLIP's states.

v-prediction on SD's schedule rescaled to zero terminal SNR (Lin et al. 2023), the two things the
file's ``v_pred`` and ``ztsnr`` marker keys declare to any loader. With SD's own schedule the last
timestep keeps some signal, so an eps model reads the flat background's colour from the mean of
the starting noise instead of the prompt (the first, eps version did: one seed gave yellow for
"blue", "yellow" and "black"); at zero SNR the first step must take it from the prompt, and v's
loss there is an x0 loss.

Latents come from the VAE stage's encoder (posterior mean and std, sampled per step) times SD1.x's
0.18215 (the VAE stage folded its scale so these have unit std). Captions are dropped 10% of the
time (the empty caption's states, for CFG); timesteps are biased toward high noise (logit-normal),
where colour and layout are decided. The conditioning gap (eps-MSE at t >= 300 on a fixed batch
with the right captions vs shuffled ones) is logged as it trains. The stage ends by exporting the
single-file checkpoint (``training.export``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.latent_format import SD15
from diffusion.sampling.model_sampling import ModelSamplingDiscrete
from diffusion.text.clip import CLIPTextModel
from diffusion.unet.config import UNetConfig, sd1_config
from diffusion.unet.model import UNetModel
from training.checkpoint_state import load_state, save_state
from training.config import RunConfig
from training.latents import encode_latents
from training.progress import LossLog, ProgressBar
from training.text_stage import (
    TEXT_CONFIG,
    held_count,
    load_text_encoder,
    read_captions,
    tokenize,
)

logger = logging.getLogger(__name__)

# Levels 32/64/128 at 16x16 / 8x8 / 4x4 latents, one ResBlock each, cross-attention at 8x8, 4x4
# and in the middle (SD1.x: 8 heads), 4.2M params. 0.48 s fwd+bwd at batch 32 on one core; levels
# 64/128 with attention at 8x8 cost 0.92 s (convolutions dominate).
UNET_CONFIG: UNetConfig = sd1_config().replace(
    model_channels=32, channel_mult=(1, 2, 4), num_res_blocks=(1, 1, 1),
    transformer_depth=(0, 1, 1), transformer_depth_output=(1, 1, 1, 1, 0, 0),
    transformer_depth_middle=1, context_dim=TEXT_CONFIG.width,
)
UNET_STEPS = 5_000  # at --steps-scale 1
BATCH = 32
LR = 6e-4
DROP_CAPTION = 0.1
SAVE_EVERY = 100
GAP_EVERY = 250
GAP_BATCH = 64
GAP_MIN_T = 300
T_MEAN, T_STD = 0.5, 1.0  # logit-normal timestep sampling, shifted toward high noise
EMA_DECAY = 0.999  # the exported weights are this moving average (~1,000-step window)


@dataclass(frozen=True)
class Data:
    mean: Tensor  # (N, 4, h, w) raw posterior means
    std: Tensor  # (N, 4, h, w) raw posterior stds
    ids: Tensor  # (N, 77)
    empty: Tensor  # (77,) the empty caption's ids


SAMPLING = ModelSamplingDiscrete(prediction="v_prediction", zsnr=True)  # as the loader reads it


def alphas_cumprod() -> Tensor:
    """alpha_bar per timestep of the sampling the file declares (the last one ~5e-8: no signal)."""
    sigmas = SAMPLING.sigmas_float64  # (1000,) ascending
    return (1.0 / (sigmas * sigmas + 1.0)).float()


def context_states(text: CLIPTextModel, ids: Tensor) -> Tensor:
    """Cross-attention context of the frozen encoder, as the SD1.x prompt path computes it."""
    with torch.no_grad():
        return text(ids).hidden  # (B, 77, width): last layer, final norm (SD1.x's clip_l slot)


def _draw(data: Data, seed: int, step: int, trainable: int) -> tuple[Tensor, ...]:
    """(x0, ids, t, eps) for a step; every draw is a function of (seed, step)."""
    rng = np.random.default_rng([seed, step, 0xD1])
    picked = rng.choice(trainable, size=min(BATCH, trainable), replace=False)
    idx = torch.from_numpy(np.sort(picked))
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    mean, std = data.mean[idx].float(), data.std[idx].float()
    x0 = SD15.scale_factor * (mean + std * torch.randn(mean.shape, generator=gen))
    drop = torch.rand(len(idx), generator=gen) < DROP_CAPTION
    ids = torch.where(drop[:, None], data.empty[None], data.ids[idx])
    u = torch.sigmoid(T_MEAN + T_STD * torch.randn(len(idx), generator=gen))
    t = (u * 999).round().long()
    eps = torch.randn(x0.shape, generator=gen)  # (B, 4, h, w)
    return x0, ids, t, eps


def v_loss(unet: UNetModel, ac: Tensor, x0: Tensor, context: Tensor, t: Tensor,
           eps: Tensor) -> Tensor:
    """MSE to v = sqrt(a) eps - sqrt(1 - a) x0: an eps loss at low noise, an x0 loss at high."""
    a = ac[t].view(-1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps  # (B, 4, h, w)
    xt = xt.contiguous(memory_format=torch.channels_last)
    v = a.sqrt() * eps - (1 - a).sqrt() * x0  # (B, 4, h, w)
    return F.mse_loss(unet(xt, t.float(), context), v)


@dataclass(frozen=True)
class GapBatch:
    x0: Tensor
    right: Tensor  # contexts of the right captions
    shuffled: Tensor  # contexts rolled by one: another image's caption
    t: Tensor
    eps: Tensor


def gap_batch(data: Data, text: CLIPTextModel, seed: int) -> GapBatch:
    """A fixed batch of held-out latents, t >= 300, fixed noise."""
    n = min(GAP_BATCH, held_count(len(data.ids)))
    idx = torch.arange(len(data.ids) - n, len(data.ids))
    gen = torch.Generator().manual_seed(seed * 7919 + 1)
    x0 = SD15.scale_factor * data.mean[idx].float()
    right = context_states(text, data.ids[idx])
    t = torch.randint(GAP_MIN_T, 1000, (n,), generator=gen)
    return GapBatch(x0, right, right.roll(1, dims=0), t, torch.randn(x0.shape, generator=gen))


@torch.no_grad()
def conditioning_gap(unet: UNetModel, ac: Tensor, g: GapBatch) -> tuple[float, float]:
    """(loss with right captions, loss with shuffled captions) on the fixed batch."""
    unet.eval()
    right = v_loss(unet, ac, g.x0, g.right, g.t, g.eps).item()
    shuffled = v_loss(unet, ac, g.x0, g.shuffled, g.t, g.eps).item()
    unet.train()
    return right, shuffled


def _lr(step: int, total: int) -> float:
    """Warm-up, then cosine to LR/10."""
    warmup = max(1, min(100, total // 20))
    if step < warmup:
        return LR * (step + 1) / warmup
    return LR * (0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


class Ema:
    """Exponential moving average of the UNet's parameters; decay warms up as (1+n)/(10+n)."""

    def __init__(self, unet: UNetModel) -> None:
        self.shadow = [p.detach().clone() for p in unet.parameters()]

    @torch.no_grad()
    def update(self, unet: UNetModel, step: int) -> None:
        weight = 1.0 - min(EMA_DECAY, (1 + step) / (10 + step))
        for avg, param in zip(self.shadow, unet.parameters(), strict=True):
            avg.lerp_(param, weight)

    @torch.no_grad()
    def copy_to(self, unet: UNetModel) -> None:
        for avg, param in zip(self.shadow, unet.parameters(), strict=True):
            param.copy_(avg)


def _resume(folder: Path, unet: UNetModel, opt: torch.optim.Optimizer, ema: Ema) -> int:
    state = load_state(folder, unet, opt, "unet")
    if state is None:
        return 0
    ema.shadow = list(state["ema"])
    return int(state["step"])


def _save(folder: Path, unet: UNetModel, opt: torch.optim.Optimizer, ema: Ema,
          step: int) -> None:
    save_state(folder, unet, opt, step, ema=ema.shadow)


def _gap_record(unet: UNetModel, ac: Tensor, g: GapBatch, step: int) -> dict[str, float]:
    right, shuffled = conditioning_gap(unet, ac, g)
    gap = (shuffled - right) / max(shuffled, 1e-12)
    logger.info("unet step %d: conditioning gap %.1f%% (right %.5f, shuffled %.5f, t >= %d)",
                step, 100 * gap, right, shuffled, GAP_MIN_T)
    return {"gap_right": right, "gap_shuffled": shuffled, "gap": gap}


def _train(cfg: RunConfig, unet: UNetModel, text: CLIPTextModel, data: Data, total: int,
           ema: Ema) -> float:
    folder = cfg.stage_dir("unet")
    opt = torch.optim.AdamW(unet.parameters(), lr=LR, weight_decay=0.01)
    start = _resume(folder, unet, opt, ema)
    log = LossLog(folder / "loss.jsonl")
    log.truncate(start)
    ac, g = alphas_cumprod(), gap_batch(data, text, cfg.seed)
    trainable = len(data.ids) - held_count(len(data.ids))
    bar = ProgressBar("unet", total, start)
    t0 = time.perf_counter()
    for step in range(start, total):
        for group in opt.param_groups:
            group["lr"] = _lr(step, total)
        x0, ids, t, eps = _draw(data, cfg.seed, step, trainable)
        loss = v_loss(unet, ac, x0, context_states(text, ids), t, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        ema.update(unet, step)
        record: dict[str, float | int | str] = {"step": step + 1, "loss": loss.item()}
        if (step + 1) % GAP_EVERY == 0 or step + 1 == total:
            record.update(_gap_record(unet, ac, g, step + 1))
        log.append(record)
        bar.update(step + 1, loss=loss.item())
        if (step + 1) % SAVE_EVERY == 0 or step + 1 == total:
            _save(folder, unet, opt, ema, step + 1)
    bar.close()
    return (time.perf_counter() - t0) / max(1, total - start)


def load_data(cfg: RunConfig) -> Data:
    mean, std = encode_latents(cfg)
    return Data(mean, std, tokenize(read_captions(cfg)), tokenize([""])[0])


def run_unet(cfg: RunConfig) -> dict[str, object]:
    from training.export import export_checkpoint

    started = time.perf_counter()
    data = load_data(cfg)
    encode_s = time.perf_counter() - started
    text = load_text_encoder(cfg.stage_dir("text") / "text.safetensors")
    torch.manual_seed(cfg.seed)
    unet = UNetModel(UNET_CONFIG).to(memory_format=torch.channels_last)
    total = cfg.scaled(UNET_STEPS)
    ema = Ema(unet)
    step_s = _train(cfg, unet, text, data, total, ema)
    gaps = [r for r in LossLog(cfg.stage_dir("unet") / "loss.jsonl").records() if "gap" in r]
    ema.copy_to(unet)  # the exported weights are the moving average
    ema_gap = _gap_record(unet, alphas_cumprod(), gap_batch(data, text, cfg.seed), total)
    path = export_checkpoint(cfg, unet)
    return {"steps": total, "s_per_step": round(step_s, 4), "encode_s": round(encode_s, 1),
            "params": sum(p.numel() for p in unet.parameters()),
            "last_gap": gaps[-1] if gaps else None, "ema_gap": ema_gap, "checkpoint": str(path)}
