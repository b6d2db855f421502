"""The ``controlnet`` add-on stage: a ControlNet for the demo model, hint = where the shape goes.

The ControlNet is ``diffusion.control.ControlNetModel`` for the base UNet's configuration (the
SD1.x ControlNet layout ``ControlNetLoader`` and ComfyUI read): its encoder starts as a copy of
the base UNet's encoder, its zero convolutions and the hint encoder's last conv start at zero,
so training starts from the unchanged base model. The base is frozen; the loss is the base
stage's v-loss with the ControlNet's residuals added to the UNet, on this stage's own images.

Hints (``training.shape_hints``) are a white-on-black silhouette or scribble of the picture's
shape, half each, given as a (3, H, W) image in [0, 1] as ``ControlNetApplyAdvanced`` passes a
loaded image. Captions: 10 % empty, 45 % a paraphrase naming the position, 45 % the plain
caption without it ("a large red circle on a blue background"), so the hint alone can place the
shape. The hint gap (v-loss with another picture's hint vs the right one, fixed held batch,
t >= 300) is logged as it trains. The stage ends by exporting the fp16 file.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor, nn

from diffusion.control import ControlNetConfig, ControlNetModel
from diffusion.control.layout import CONTROL_PREFIX
from diffusion.embedded import DEMO_CONTROLNET
from diffusion.latent_format import SD15
from diffusion.text.clip import CLIPTextModel
from diffusion.unet.hooks import UNetResiduals
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
from training.progress import LossLog, ProgressBar
from training.shape_hints import HINT_KINDS, hint_for
from training.text_stage import tokenize
from training.unet_stage import T_MEAN, T_STD, alphas_cumprod, context_states

logger = logging.getLogger(__name__)

STAGE = "controlnet"
IMAGES = 4_000  # at --steps-scale 1
STEPS = 3_000  # at --steps-scale 1
BATCH = 8
LR = 4e-4
SAVE_EVERY = 50
GAP_EVERY = 250
GAP_BATCH = 32
GAP_MIN_T = 300
HELD = 256  # last images: never trained on, the hint gap's batch
MIN_IMAGES = 64  # the data floor at small --steps-scale
CAPTION_MIX = (0.10, 0.45, 0.45)  # empty, paraphrase with position, plain without position


@dataclass(frozen=True)
class ControlData:
    labels: list[shapes_data.ShapeLabel]
    mean: Tensor  # (N, 4, h, w) posterior means
    std: Tensor  # (N, 4, h, w)
    ids: Tensor  # (N, 77) paraphrases with the position
    unplaced: Tensor  # (N, 77) plain captions without the position
    empty: Tensor  # (77,)
    resolution: int


def load_control_data(cfg: RunConfig, base: BaseModel) -> ControlData:
    count = cfg.scaled(IMAGES, minimum=MIN_IMAGES)
    batch = shapes_data.generate(count, seed=cfg.seed + DATA_SEED_OFFSET[STAGE],
                                 resolution=cfg.resolution, mode="train")
    mean, std = cached_latents(cfg.stage_dir(STAGE), base.vae, batch.images)
    unplaced = [shapes_data.unplaced_caption(label) for label in batch.labels]
    return ControlData(batch.labels, mean, std, tokenize(batch.captions), tokenize(unplaced),
                       tokenize([""])[0], cfg.resolution)


def hints(data: ControlData, idx: list[int], kinds: list[str], seed: int, key: int) -> Tensor:
    """(B, 3, H, W) float hints in [0, 1] for images ``idx``; ``key`` varies the scribbles."""
    rows = [hint_for(data.labels[i], kind, data.resolution, seed=seed,  # type: ignore[arg-type]
                     index=key * 1_000_003 + i) for i, kind in zip(idx, kinds, strict=True)]
    grey = torch.from_numpy(np.stack(rows)).float() / 255.0  # (B, H, W)
    return grey[:, None].expand(-1, 3, -1, -1).contiguous()  # (B, 3, H, W)


def build_controlnet(unet: UNetModel) -> ControlNetModel:
    """A ControlNet whose encoder copies ``unet``'s and whose outputs start at zero."""
    net = ControlNetModel(ControlNetConfig(unet.config, hint_channels=3))
    missing, _ = net.load_state_dict(unet.state_dict(), strict=False)
    fresh = {k.split(".")[0] for k in missing}
    if fresh != {"zero_convs", "input_hint_block", "middle_block_out"}:
        raise RuntimeError(f"ControlNet parts not copied from the UNet: {sorted(fresh)}")
    last_hint = net.input_hint_block[-1]
    zero_convs = [cast(nn.Sequential, z)[0] for z in net.zero_convs]
    for conv in (*zero_convs, net.middle_block_out[0], last_hint):
        assert isinstance(conv, nn.Conv2d)
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)  # type: ignore[arg-type]
    return net


def control_loss(net: ControlNetModel, unet: UNetModel, ac: Tensor, x0: Tensor, hint: Tensor,
                 context: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """The base stage's v-loss with the ControlNet's residuals added to the frozen UNet."""
    a = ac[t].view(-1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps  # (B, 4, h, w)
    v = a.sqrt() * eps - (1 - a).sqrt() * x0  # (B, 4, h, w)
    out = net(xt, hint, t.float(), context)
    pred = unet(xt, t.float(), context, residuals=UNetResiduals(out.skips, out.middle))
    return F.mse_loss(pred, v)


def _draw(data: ControlData, seed: int, step: int, trainable: int) -> tuple[Tensor, ...]:
    """(x0, ids, t, eps, hint) for a step; every draw is a function of (seed, step)."""
    rng = np.random.default_rng([seed, step, 0xC0])
    idx = np.sort(rng.choice(trainable, size=min(BATCH, trainable), replace=False)).tolist()
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    x0 = sample_x0(data.mean[idx], data.std[idx], gen)
    pick = rng.choice(3, size=len(idx), p=CAPTION_MIX)
    ids = torch.stack([data.empty if p == 0 else (data.ids[i] if p == 1 else data.unplaced[i])
                       for i, p in zip(idx, pick, strict=True)])
    kinds = [HINT_KINDS[k] for k in rng.integers(len(HINT_KINDS), size=len(idx))]
    u = torch.sigmoid(T_MEAN + T_STD * torch.randn(len(idx), generator=gen))
    t = (u * 999).round().long()
    eps = torch.randn(x0.shape, generator=gen)  # (B, 4, h, w)
    return x0, ids, t, eps, hints(data, idx, kinds, seed, step)


@dataclass(frozen=True)
class HintGapBatch:
    x0: Tensor
    context: Tensor
    hint: Tensor
    t: Tensor
    eps: Tensor


def gap_batch(data: ControlData, text: CLIPTextModel, seed: int) -> HintGapBatch:
    """Held images with their plain captions without position, silhouettes, t >= 300."""
    n = min(GAP_BATCH, len(data.labels) // 8)
    idx = list(range(len(data.labels) - n, len(data.labels)))
    gen = torch.Generator().manual_seed(seed * 7919 + 3)
    x0 = SD15.scale_factor * data.mean[idx].float()  # posterior means: a fixed batch
    hint = hints(data, idx, ["silhouette"] * n, seed, 0)
    t = torch.randint(GAP_MIN_T, 1000, (n,), generator=gen)
    return HintGapBatch(x0, context_states(text, data.unplaced[idx]), hint, t,
                        torch.randn(x0.shape, generator=gen))


@torch.no_grad()
def hint_gap(net: ControlNetModel, unet: UNetModel, ac: Tensor, g: HintGapBatch
             ) -> dict[str, float]:
    """v-loss with the right hints and with the hints rolled by one (another picture's)."""
    net.eval()
    right = control_loss(net, unet, ac, g.x0, g.hint, g.context, g.t, g.eps).item()
    wrong = control_loss(net, unet, ac, g.x0, g.hint.roll(1, 0), g.context, g.t, g.eps).item()
    net.train()
    gap = (wrong - right) / max(wrong, 1e-12)
    logger.info("controlnet hint gap %.1f%% (right %.5f, other hint %.5f)", 100 * gap, right,
                wrong)
    return {"gap_right": right, "gap_wrong": wrong, "gap": gap}


def _lr(step: int, total: int) -> float:
    warmup = max(1, min(100, total // 20))
    if step < warmup:
        return LR * (step + 1) / warmup
    return LR * (0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


def _train(cfg: RunConfig, net: ControlNetModel, base: BaseModel, data: ControlData,
           total: int) -> tuple[float, dict[str, float]]:
    folder = cfg.stage_dir(STAGE)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.0)
    state = load_state(folder, net, opt, STAGE)
    start = int(state["step"]) if state else 0
    log = LossLog(folder / "loss.jsonl")
    log.truncate(start)
    ac, g = alphas_cumprod(), gap_batch(data, base.text, cfg.seed)
    trainable = len(data.labels) - min(HELD, len(data.labels) // 8)
    bar = ProgressBar(STAGE, total, start)
    t0 = time.perf_counter()
    gap: dict[str, float] = {}
    for step in range(start, total):
        for group in opt.param_groups:
            group["lr"] = _lr(step, total)
        x0, ids, t, eps, hint = _draw(data, cfg.seed, step, trainable)
        loss = control_loss(net, base.unet, ac, x0, hint, context_states(base.text, ids), t, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        record: dict[str, float | int | str] = {"step": step + 1, "loss": loss.item()}
        if (step + 1) % GAP_EVERY == 0 or step + 1 == total:
            gap = hint_gap(net, base.unet, ac, g)
            record.update(gap)
        log.append(record)
        bar.update(step + 1, loss=loss.item())
        if (step + 1) % SAVE_EVERY == 0 or step + 1 == total:
            save_state(folder, net, opt, step + 1)
    bar.close()
    if not gap:
        gap = hint_gap(net, base.unet, ac, g)
    return (time.perf_counter() - t0) / max(1, total - start), gap


def export_controlnet(net: ControlNetModel, path: Path, metadata: dict[str, str]) -> Path:
    """The original ControlNet layout (``control_model.`` keys), fp16; opened back to check."""
    from diffusion.control.files import open_control_file
    from diffusion.loading.files import read_tensor_file

    tensors = {CONTROL_PREFIX + k: v.detach().to(torch.float16).contiguous()
               for k, v in net.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)
    opened = open_control_file(read_tensor_file(path))
    if opened is None or opened.config != net.config:
        raise RuntimeError(f"{path}: opened back as {opened and opened.config}")
    logger.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def run_controlnet(cfg: RunConfig) -> dict[str, object]:
    started = time.perf_counter()
    base = load_base(base_checkpoint(cfg))
    data = load_control_data(cfg, base)
    prepare_s = time.perf_counter() - started
    torch.manual_seed(cfg.seed)
    net = build_controlnet(base.unet)
    total = cfg.addon_steps(STEPS)
    step_s, gap = _train(cfg, net, base, data, total)
    meta = {"latentgraph.model": "shapes-v1-control", "base": base.path.name,
            "seed": str(cfg.seed), "steps": str(total), "hint": "white-on-black silhouette or "
            "scribble of the shape, 128x128"}
    path = export_controlnet(net, cfg.out / DEMO_CONTROLNET, meta)
    return {"steps": total, "images": len(data.labels), "s_per_step": round(step_s, 4),
            "prepare_s": round(prepare_s, 1), "base": str(base.path),
            "params": sum(p.numel() for p in net.parameters()), "hint_gap": gap,
            "file": str(path)}
