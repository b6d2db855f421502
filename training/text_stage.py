"""The text stage: a mini-CLIP. A narrow SD1.x CLIP-L-layout text encoder trained contrastively.

The text tower is our ``CLIPTextModel`` (transformers key layout, full 49,408-row token table, real
CLIP BPE ids, 77 positions, 64-wide heads), narrowed to width 128 and 2 layers, so the SD1.x loader
detects and loads it. A tiny conv image tower is trained beside it with a symmetric InfoNCE loss on
(image, caption) pairs of the data stage; both projections and the tower are thrown away after.
The text weights are written as ``text.safetensors`` under ``cond_stage_model.transformer.``.
Image->caption retrieval accuracy on a held-out batch is logged as it trains.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from diffusion.text.clip import CLIPTextModel, TextEncoderConfig
from diffusion.text.tokenizer import BOS_ID, EOS_ID, CLIPTokenizer
from training.checkpoint_state import load_state, save_state
from training.config import RunConfig
from training.progress import LossLog, ProgressBar
from training.schedules import warmup_cosine

logger = logging.getLogger(__name__)

TEXT_CONFIG = TextEncoderConfig(width=128, layers=2, heads=2)  # heads = width / 64, as detected
TEXT_PREFIX = "cond_stage_model.transformer."
CONTEXT = 77
EMBED = 128  # shared contrastive space
TEXT_STEPS = 1_500  # at --steps-scale 1
BATCH = 128
LR = 1e-3
SAVE_EVERY = 100
EVAL_EVERY = 50
HELD = 256  # last images of the data set: never trained on, used for retrieval accuracy
IMAGE_SIDE = 64  # the tower sees images box-downsampled to this side


def tokenize(captions: list[str], tokenizer: CLIPTokenizer | None = None) -> Tensor:
    """(N, 77) ids as the SD1.x prompt path builds them: bos, tokens, eos, eos padding."""
    tok = tokenizer or CLIPTokenizer()
    rows = []
    for ids in tok.encode_batch(captions):
        row = [BOS_ID, *ids[: CONTEXT - 2], EOS_ID]
        rows.append(row + [EOS_ID] * (CONTEXT - len(row)))
    return torch.tensor(rows, dtype=torch.long)


def read_captions(cfg: RunConfig) -> list[str]:
    lines = (cfg.stage_dir("data") / "labels.jsonl").read_text().splitlines()
    return [json.loads(line)["caption"] for line in lines if line.strip()]


class ImageTower(nn.Module):
    """(B, 3, 64, 64) in [-1, 1] -> (B, EMBED): four stride-2 conv blocks and a mean pool."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        chans = (3, width, 2 * width, 4 * width, 4 * width)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(8, c_out),
                       nn.SiLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1], EMBED)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))  # (B, EMBED)


class MiniCLIP(nn.Module):
    """The text encoder, the image tower, a text projection and the learned temperature."""

    def __init__(self) -> None:
        super().__init__()
        self.text = CLIPTextModel(TEXT_CONFIG)
        self.image = ImageTower()
        self.text_proj = nn.Linear(TEXT_CONFIG.width, EMBED, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        nn.init.normal_(self.text.text_model.embeddings.token_embedding.weight, std=0.02)
        nn.init.normal_(self.text.text_model.embeddings.position_embedding.weight, std=0.01)

    def embed(self, pixels: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
        img = F.normalize(self.image(pixels), dim=-1)
        # The attention is causal, so the pooled (first end-of-text) state is exactly the same
        # without the padding after it: 4.5x cheaper than 77 positions.
        ids = ids[:, : int((ids == EOS_ID).int().argmax(dim=1).max()) + 1]
        txt = F.normalize(self.text_proj(self.text(ids).pooled), dim=-1)
        return img, txt

    def loss(self, pixels: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Symmetric InfoNCE and the image->text top-1 accuracy of the batch."""
        img, txt = self.embed(pixels, ids)
        logits = self.logit_scale.clamp(max=math.log(100)).exp() * img @ txt.T  # (B, B)
        target = torch.arange(len(ids))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        return loss, (logits.argmax(dim=1) == target).float().mean()


def _pixels(images: np.ndarray, idx: np.ndarray) -> Tensor:
    x = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2).float()
    x = F.adaptive_avg_pool2d(x / 127.5 - 1.0, IMAGE_SIDE)  # (B, 3, 64, 64)
    return x.contiguous(memory_format=torch.channels_last)


def _batch_index(seed: int, step: int, trainable: int) -> np.ndarray:
    rng = np.random.default_rng([seed, step, 0x7E])
    return np.sort(rng.choice(trainable, size=min(BATCH, trainable), replace=False))


def _lr(step: int, total: int) -> float:
    return warmup_cosine(step, total, LR)


def _resume(folder: Path, model: MiniCLIP, opt: torch.optim.Optimizer) -> int:
    state = load_state(folder, model, opt, "text")
    return 0 if state is None else int(state["step"])


def _save(folder: Path, model: MiniCLIP, opt: torch.optim.Optimizer, step: int) -> None:
    save_state(folder, model, opt, step)


@torch.no_grad()
def retrieval_accuracy(model: MiniCLIP, pixels: Tensor, ids: Tensor) -> float:
    """Image->caption top-1 accuracy among the held-out batch's captions."""
    model.eval()
    _, acc = model.loss(pixels, ids)
    model.train()
    return acc.item()


def _train(cfg: RunConfig, model: MiniCLIP, ids: Tensor, images: np.ndarray, total: int) -> float:
    folder = cfg.stage_dir("text")
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    start = _resume(folder, model, opt)
    log = LossLog(folder / "loss.jsonl")
    log.truncate(start)
    held = np.arange(len(images) - held_count(len(images)), len(images))
    held_px, held_ids = _pixels(images, held), ids[held]
    trainable = len(images) - len(held)
    bar = ProgressBar("text", total, start)
    t0 = time.perf_counter()
    for step in range(start, total):
        for group in opt.param_groups:
            group["lr"] = _lr(step, total)
        idx = _batch_index(cfg.seed, step, trainable)
        loss, acc = model.loss(_pixels(images, idx), ids[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        record: dict[str, float | int | str] = {"step": step + 1, "loss": loss.item(),
                                                "train_acc": acc.item()}
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == total:
            record["held_acc"] = retrieval_accuracy(model, held_px, held_ids)
            logger.info("text step %d: loss %.4f, held-out retrieval %.3f (chance %.3f)",
                        step + 1, loss.item(), record["held_acc"], 1 / len(held))
        log.append(record)
        bar.update(step + 1, loss=loss.item(), acc=acc.item())
        if (step + 1) % SAVE_EVERY == 0 or step + 1 == total:
            _save(folder, model, opt, step + 1)
    bar.close()
    return (time.perf_counter() - t0) / max(1, total - start)


def held_count(count: int) -> int:
    """Images at the end of the data set kept out of text and UNet training (evaluation)."""
    return min(HELD, max(2, count // 8))


def text_state_dict(model: CLIPTextModel) -> dict[str, Tensor]:
    """The text encoder's weights under the SD1.x single-file prefix."""
    return {TEXT_PREFIX + k: t.detach().contiguous() for k, t in model.state_dict().items()}


def load_text_encoder(path: Path) -> CLIPTextModel:
    """The frozen encoder from ``text.safetensors`` (eval mode, no gradients)."""
    model = CLIPTextModel(TEXT_CONFIG)
    state = {k[len(TEXT_PREFIX):]: v for k, v in load_file(str(path)).items()}
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def run_text(cfg: RunConfig) -> dict[str, object]:
    folder = cfg.stage_dir("text")
    images = np.load(cfg.stage_dir("data") / "images.npy", mmap_mode="r")
    ids = tokenize(read_captions(cfg))
    torch.manual_seed(cfg.seed)
    model = MiniCLIP()
    total = cfg.scaled(TEXT_STEPS)
    step_s = _train(cfg, model, ids, images, total)
    path = folder / "text.safetensors"
    save_file(text_state_dict(model.text), str(path),
              metadata={"latentgraph.stage": "text", "seed": str(cfg.seed)})
    last = [r for r in LossLog(folder / "loss.jsonl").records() if "held_acc" in r]
    return {"steps": total, "s_per_step": round(step_s, 4),
            "held_retrieval_acc": last[-1]["held_acc"] if last else None,
            "held_images": held_count(len(images)), "file": path.name}
