"""The ``lora`` add-on stage: a trigger-free "outlined" style LoRA for the demo model.

The base model only ever saw filled shapes; this stage trains kohya-format adapters
(``training.lora_layers``, rank ``RANK``) on the frozen base UNet with the same scenes drawn in the
``outlined`` style (``shapes_data``: a band of the shape's colour just outside its edge, the shape
itself in the background's colour) and their ordinary captions, no trigger word, 10 % of them empty
(the CFG branch), so the LoRA's strength alone sets the style. The loss is the base stage's v-loss.
The style gain (the held batch's v-loss without the LoRA vs with it, t >= 300) is logged as it
trains. The stage ends by exporting the fp16 file and mapping it through
``diffusion.patching.lora`` (every key must land on the base UNet).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from diffusion.embedded import DEMO_LORA
from diffusion.latent_format import SD15
from diffusion.text.clip import CLIPTextModel
from diffusion.unet.model import UNetModel
from training import shapes_data
from training.addon_base import (
    DATA_SEED_OFFSET,
    BaseModel,
    base_checkpoint,
    cached_latents,
    load_base,
    sample_x0,
)
from training.checkpoint_state import load_state, save_state
from training.config import RunConfig
from training.lora_layers import LoraLayer, add_lora, kohya_state, lora_parameters, set_strength
from training.progress import LossLog, ProgressBar
from training.text_stage import tokenize
from training.unet_stage import T_MEAN, T_STD, alphas_cumprod, context_states, v_loss

logger = logging.getLogger(__name__)

STAGE = "lora"
IMAGES = 3_000  # at --steps-scale 1
STEPS = 2_000  # at --steps-scale 1
RANK = 8
BATCH = 8
LR = 1e-3
DROP_CAPTION = 0.1
SAVE_EVERY = 50
GAIN_EVERY = 250
GAIN_BATCH = 32
GAIN_MIN_T = 300
HELD = 256
MIN_IMAGES = 64  # the data floor at small --steps-scale


@dataclass(frozen=True)
class StyleData:
    mean: Tensor  # (N, 4, h, w) posterior means of the outlined pictures
    std: Tensor
    ids: Tensor  # (N, 77)
    empty: Tensor  # (77,)


def load_style_data(cfg: RunConfig, base: BaseModel) -> StyleData:
    count = cfg.scaled(IMAGES, minimum=MIN_IMAGES)
    batch = shapes_data.generate(count, seed=cfg.seed + DATA_SEED_OFFSET[STAGE],
                                 resolution=cfg.resolution, mode="train", style="outlined")
    mean, std = cached_latents(cfg.stage_dir(STAGE), base.vae, batch.images)
    return StyleData(mean, std, tokenize(batch.captions), tokenize([""])[0])


def _draw(data: StyleData, seed: int, step: int, trainable: int) -> tuple[Tensor, ...]:
    rng = np.random.default_rng([seed, step, 0x10A])
    idx = torch.from_numpy(np.sort(rng.choice(trainable, size=min(BATCH, trainable),
                                              replace=False)))
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    x0 = sample_x0(data.mean[idx], data.std[idx], gen)
    drop = torch.rand(len(idx), generator=gen) < DROP_CAPTION
    ids = torch.where(drop[:, None], data.empty[None], data.ids[idx])
    t = (torch.sigmoid(T_MEAN + T_STD * torch.randn(len(idx), generator=gen)) * 999).round()
    return x0, ids, t.long(), torch.randn(x0.shape, generator=gen)


@dataclass(frozen=True)
class GainBatch:
    x0: Tensor
    context: Tensor
    t: Tensor
    eps: Tensor


def gain_batch(data: StyleData, text: CLIPTextModel, seed: int) -> GainBatch:
    n = min(GAIN_BATCH, len(data.ids) // 8)
    idx = torch.arange(len(data.ids) - n, len(data.ids))
    gen = torch.Generator().manual_seed(seed * 7919 + 5)
    x0 = SD15.scale_factor * data.mean[idx].float()  # (n, 4, h, w)
    t = torch.randint(GAIN_MIN_T, 1000, (n,), generator=gen)
    return GainBatch(x0, context_states(text, data.ids[idx]), t,
                     torch.randn(x0.shape, generator=gen))


@torch.no_grad()
def style_gain(unet: UNetModel, layers: dict[str, LoraLayer], ac: Tensor, g: GainBatch
               ) -> dict[str, float]:
    """Held outlined pictures' v-loss at strength 0 (the base) and 1; gain = relative drop."""
    losses = {}
    for strength in (0.0, 1.0):
        set_strength(layers, strength)
        losses[strength] = v_loss(unet, ac, g.x0, g.context, g.t, g.eps).item()
    set_strength(layers, 1.0)
    gain = (losses[0.0] - losses[1.0]) / max(losses[0.0], 1e-12)
    logger.info("lora style gain %.1f%% (base %.5f, lora %.5f)", 100 * gain, losses[0.0],
                losses[1.0])
    return {"base_loss": losses[0.0], "lora_loss": losses[1.0], "gain": gain}


def _lr(step: int, total: int) -> float:
    warmup = max(1, min(100, total // 20))
    if step < warmup:
        return LR * (step + 1) / warmup
    return LR * (0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


def _train(cfg: RunConfig, unet: UNetModel, layers: dict[str, LoraLayer], text: CLIPTextModel,
           data: StyleData, total: int) -> tuple[float, dict[str, float]]:
    folder = cfg.stage_dir(STAGE)
    holder = nn.ModuleList(layers.values())  # what the state file saves
    opt = torch.optim.AdamW(lora_parameters(layers), lr=LR, weight_decay=0.0)
    state = load_state(folder, holder, opt, STAGE)
    start = int(state["step"]) if state else 0
    log = LossLog(folder / "loss.jsonl")
    log.truncate(start)
    ac, g = alphas_cumprod(), gain_batch(data, text, cfg.seed)
    trainable = len(data.ids) - min(HELD, len(data.ids) // 8)
    bar = ProgressBar(STAGE, total, start)
    t0 = time.perf_counter()
    gain: dict[str, float] = {}
    for step in range(start, total):
        for group in opt.param_groups:
            group["lr"] = _lr(step, total)
        x0, ids, t, eps = _draw(data, cfg.seed, step, trainable)
        loss = v_loss(unet, ac, x0, context_states(text, ids), t, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(lora_parameters(layers), 1.0)
        opt.step()
        record: dict[str, float | int | str] = {"step": step + 1, "loss": loss.item()}
        if (step + 1) % GAIN_EVERY == 0 or step + 1 == total:
            gain = style_gain(unet, layers, ac, g)
            record.update(gain)
        log.append(record)
        bar.update(step + 1, loss=loss.item())
        if (step + 1) % SAVE_EVERY == 0 or step + 1 == total:
            save_state(folder, holder, opt, step + 1)
    bar.close()
    if not gain:
        gain = style_gain(unet, layers, ac, g)
    return (time.perf_counter() - t0) / max(1, total - start), gain


def export_lora(unet: UNetModel, layers: dict[str, LoraLayer], path: Path,
                metadata: dict[str, str]) -> Path:
    """kohya LoRA / LoCon safetensors (fp16), mapped back onto the UNet to check every key."""
    from diffusion.patching.lora import load_lora_file, lora_patches, unet_target

    tmp = path.with_suffix(".tmp")
    save_file(kohya_state(unet, layers), str(tmp), metadata=metadata)
    tmp.replace(path)
    mapping = lora_patches(load_lora_file(path), {"unet": unet_target(unet.config)},
                           {"unet": 1.0})
    if mapping.unmapped or mapping.mapped != len(layers) * 3:
        raise RuntimeError(f"{path}: {len(mapping.unmapped)} keys unmapped "
                           f"({list(mapping.unmapped)[:5]}), {mapping.mapped} mapped")
    logger.info("exported %s (%.2f MB)", path, path.stat().st_size / 1e6)
    return path


def run_lora(cfg: RunConfig) -> dict[str, object]:
    started = time.perf_counter()
    base = load_base(base_checkpoint(cfg))
    data = load_style_data(cfg, base)
    prepare_s = time.perf_counter() - started
    torch.manual_seed(cfg.seed)
    layers = add_lora(base.unet, RANK)
    total = cfg.addon_steps(STEPS)
    step_s, gain = _train(cfg, base.unet, layers, base.text, data, total)
    meta = {"latentgraph.model": "shapes-v1-outline", "base": base.path.name,
            "seed": str(cfg.seed), "steps": str(total), "ss_network_module": "networks.lora",
            "ss_network_dim": str(RANK), "ss_network_alpha": str(RANK),
            "style": "outlined shapes (no trigger word)"}
    path = export_lora(base.unet, layers, cfg.out / DEMO_LORA, meta)
    return {"steps": total, "images": len(data.ids), "rank": RANK, "modules": len(layers),
            "s_per_step": round(step_s, 4), "prepare_s": round(prepare_s, 1),
            "base": str(base.path), "params": sum(p.numel() for p in lora_parameters(layers)),
            "style_gain": gain, "file": str(path)}
