"""One SD1.x single-file checkpoint (fp16) from the VAE, text and UNet stages' weights.

The VAE is the decoder stage's (the VAE stage's encoder, fine-tuned decoder). Keys are the
original LDM layout: ``model.diffusion_model.`` (UNet), ``first_stage_model.`` (VAE)
and ``cond_stage_model.transformer.`` (CLIP-L-layout text encoder), plus ComfyUI's empty ``v_pred``
and ``ztsnr`` marker keys (v-prediction, zero-terminal-SNR schedule), so
``diffusion.loading.load_checkpoint`` reads it as any SD1.x file. The file is loaded back once to
prove it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from diffusion.loading import load_checkpoint
from diffusion.loading.checkpoint import V_PRED_KEY, ZSNR_KEY
from diffusion.loading.detect import UNET_PREFIX, VAE_PREFIX
from diffusion.unet.model import UNetModel
from training.config import RunConfig

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "latentgraph-shapes-v1.safetensors"


def checkpoint_tensors(cfg: RunConfig, unet: UNetModel) -> dict[str, Tensor]:
    """Every tensor of the single file, fp16, under its SD1.x prefix."""
    vae = load_file(str(cfg.stage_dir("decoder") / "vae.safetensors"))  # fine-tuned decoder
    text = load_file(str(cfg.stage_dir("text") / "text.safetensors"))  # already prefixed
    tensors = {UNET_PREFIX + k: v for k, v in unet.state_dict().items()}
    tensors.update({VAE_PREFIX + k: v for k, v in vae.items()})
    tensors.update(text)
    out = {k: v.detach().to(torch.float16).contiguous() for k, v in tensors.items()}
    out.update({V_PRED_KEY: torch.zeros(0), ZSNR_KEY: torch.zeros(0)})  # markers: keys, no data
    return out


def export_checkpoint(cfg: RunConfig, unet: UNetModel, name: str = CHECKPOINT_NAME) -> Path:
    path = cfg.out / name
    tmp = path.with_suffix(".tmp")
    metadata = {"latentgraph.model": "shapes-v1", "seed": str(cfg.seed),
                "steps_scale": str(cfg.steps_scale), "modelspec.prediction_type": "v"}
    save_file(checkpoint_tensors(cfg, unet), str(tmp), metadata=metadata)
    tmp.replace(path)
    ckpt = load_checkpoint(path)  # the ordinary loader, no special path
    if ckpt.layout.family != "sd1" or ckpt.prediction != "v":
        raise RuntimeError(f"{path}: loaded as {ckpt.layout.family}/{ckpt.prediction}")
    logger.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path
