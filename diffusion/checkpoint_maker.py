"""Random-weight checkpoints in the real single-file layouts, for tests, demos and benchmarks.

``make_checkpoint`` streams safetensors tensor by tensor (a full-size SDXL file needs one tensor of
RAM at a time); ``tiny=True`` narrows and shallows each model inside its family's conventions so a
64x64 generation is fast on a CPU; ``layout_json=True`` writes ``{key: shape}`` and no weights.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from diffusion.loading.checkpoint import V_PRED_KEY, build_modules, expected_shapes
from diffusion.loading.detect import TEXT_SLOTS, CheckpointLayout
from diffusion.saving.stream import TensorEntry, write_safetensors
from diffusion.text.clip import CLIP_L, OPEN_CLIP_BIGG, OPEN_CLIP_H, TextEncoderConfig
from diffusion.unet.config import Family, UNetConfig, family_config
from diffusion.vae.model import VAEConfig
from diffusion.vision.config import VIT_H_14, VIT_L_14, VisionConfig
from diffusion.vision.keys import open_clip_visual_shapes

logger = logging.getLogger(__name__)

Arch = Literal["sd15", "sd15-inpaint", "sd15-ip2p", "sd21", "sd21-v", "sd2-inpaint", "sdxl",
               "sdxl-refiner", "sd21-unclip-h", "sd21-unclip-l"]
ARCHS: tuple[Arch, ...] = (
    "sd15",
    "sd15-inpaint",
    "sd15-ip2p",
    "sd21",
    "sd21-v",
    "sd2-inpaint",
    "sdxl",
    "sdxl-refiner",
    "sd21-unclip-h",
    "sd21-unclip-l",
)
WeightDtype = Literal["fp16", "bf16", "fp32"]
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
_FAMILY: dict[Arch, tuple[Family, int]] = {
    "sd15": ("sd1", 4),
    "sd15-inpaint": ("sd1", 9),
    "sd15-ip2p": ("sd1", 8),  # InstructPix2Pix: latent + the source image's latent
    "sd21": ("sd2", 4),
    "sd21-v": ("sd2", 4),
    "sd2-inpaint": ("sd2", 9),
    "sdxl": ("sdxl", 4),
    "sdxl-refiner": ("sdxl_refiner", 4),
    "sd21-unclip-h": ("sd2", 4),
    "sd21-unclip-l": ("sd2", 4),
}
# SD2.1 unCLIP: the image tower under embedder.model.visual. (OpenCLIP layout) and the noise
# augmentor's schedule buffers (the original's persistent ones; ComfyUI recomputes them)
UNCLIP_VISION: dict[Arch, VisionConfig] = {"sd21-unclip-h": VIT_H_14, "sd21-unclip-l": VIT_L_14}
TINY_VISION = VisionConfig(width=64, layers=2, heads=1, mlp_width=128, projection_dim=32,
                           patch_size=8, image_size=32, activation="gelu")
UNCLIP_VISION_PREFIX = "embedder.model.visual."
NOISE_AUGMENTOR_BUFFERS = ("betas", "alphas_cumprod", "alphas_cumprod_prev",
                           "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
                           "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                           "sqrt_recipm1_alphas_cumprod")
_FULL_TEXT: dict[Family, tuple[TextEncoderConfig, ...]] = {
    "sd1": (CLIP_L,),
    "sd2": (OPEN_CLIP_H,),
    "sdxl": (CLIP_L, OPEN_CLIP_BIGG),
    "sdxl_refiner": (OPEN_CLIP_BIGG,),
}
TINY_TEXT_WIDTH = 64  # one 64-wide head, as every family's text towers use 64-wide heads


def _tiny_text(cfg: TextEncoderConfig) -> TextEncoderConfig:
    proj = TINY_TEXT_WIDTH if cfg.projection_dim else None
    return TextEncoderConfig(
        width=TINY_TEXT_WIDTH, layers=2, heads=1, activation=cfg.activation, projection_dim=proj
    )


def _tiny_unet(family: Family, in_channels: int, context: int, pooled: int) -> UNetConfig:
    """Two or three levels, one res block each, depth-1 attention where the family has it."""
    full = family_config(family, in_channels=in_channels)
    if family == "sdxl_refiner":
        mult, depth_in, depth_out = (1, 2, 2), (0, 1, 0), (0, 0, 1, 1, 0, 0)
    elif family == "sdxl":
        mult, depth_in, depth_out = (1, 2), (0, 1), (1, 1, 0, 0)
    else:
        mult, depth_in, depth_out = (1, 2), (1, 0), (0, 0, 1, 1)
    adm = None
    if full.adm_in_channels is not None:
        adm = pooled + full.adm_in_channels - 1280  # keep the family's micro-conditions
    return full.replace(
        model_channels=32 if family == "sd1" else 64,
        channel_mult=mult,
        num_res_blocks=(1,) * len(mult),
        transformer_depth=depth_in,
        transformer_depth_output=depth_out,
        transformer_depth_middle=1,
        context_dim=context,
        adm_in_channels=adm,
    )


def checkpoint_layout(arch: Arch, *, tiny: bool = False) -> CheckpointLayout:
    """The layout ``make_checkpoint`` writes for ``arch``."""
    if arch not in _FAMILY:
        raise ValueError(f"unknown arch {arch!r}; choose one of {list(ARCHS)}")
    family, in_channels = _FAMILY[arch]
    texts = _FULL_TEXT[family]
    if not tiny:
        unet, vae = family_config(family, in_channels=in_channels), VAEConfig()
    else:
        texts = tuple(_tiny_text(t) for t in texts)
        context = sum(t.width for t in texts) if family == "sdxl" else texts[-1].width
        pooled = texts[-1].projection_dim or texts[-1].width
        unet = _tiny_unet(family, in_channels, context, pooled)
        vae = VAEConfig(ch=32, ch_mult=(1, 1, 2, 2), num_res_blocks=1)
    if arch in UNCLIP_VISION:  # ADM input: image embedding + noise level embedding
        unet = unet.replace(adm_in_channels=2 * unclip_vision(arch, tiny=tiny).projection_dim)
    return CheckpointLayout(family, unet, vae, tuple(zip(TEXT_SLOTS[family], texts, strict=True)))


def unclip_vision(arch: Arch, *, tiny: bool = False) -> VisionConfig:
    """The image tower an SD2.1 unCLIP ``arch`` carries."""
    return TINY_VISION if tiny else UNCLIP_VISION[arch]


def _unclip_shapes(arch: Arch, tiny: bool) -> dict[str, tuple[int, ...]]:
    cfg = unclip_vision(arch, tiny=tiny)
    visual = open_clip_visual_shapes(cfg.width, cfg.layers, cfg.mlp_width, cfg.projection_dim,
                                     cfg.patch_size, cfg.num_positions)
    shapes = {UNCLIP_VISION_PREFIX + k: v for k, v in visual.items()}
    return shapes | {f"noise_augmentor.{name}": (1000,) for name in NOISE_AUGMENTOR_BUFFERS}


def layout_shapes(arch: Arch, *, tiny: bool = False) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of the file ``make_checkpoint`` writes (no weights are allocated)."""
    layout = checkpoint_layout(arch, tiny=tiny)
    with torch.device("meta"):
        shapes = expected_shapes(build_modules(layout))
    for slot, text_cfg in layout.text:
        if slot.kind == "clip":  # real files carry transformers' position_ids buffer
            key = slot.prefix + "text_model.embeddings.position_ids"
            shapes[key] = (1, text_cfg.max_positions)
    if arch == "sd21-v":
        shapes[V_PRED_KEY] = (0,)
    if arch in UNCLIP_VISION:
        shapes |= _unclip_shapes(arch, tiny)
    return shapes


def _random_tensor(
    key: str, shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype
) -> Tensor:
    if key.endswith("position_ids"):
        return torch.arange(shape[-1], dtype=torch.int64).reshape(shape)
    if key == V_PRED_KEY:
        return torch.zeros(shape, dtype=torch.float32)
    noise = torch.randn(shape, generator=gen)
    if len(shape) >= 2:
        value = noise / math.sqrt(math.prod(shape[1:]))
    elif key.endswith("weight"):
        value = 1.0 + 0.1 * noise  # norm scales near one
    else:
        value = 0.02 * noise
    return value.to(dtype)


def _tensors(
    shapes: dict[str, tuple[int, ...]], seed: int, dtype: torch.dtype
) -> Iterator[tuple[str, Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    for key, shape in shapes.items():
        yield key, _random_tensor(key, shape, gen, dtype)


def _dtype_of(key: str, dtype: torch.dtype) -> torch.dtype:
    if key.endswith("position_ids"):
        return torch.int64
    return torch.float32 if key == V_PRED_KEY else dtype


def write_safetensors_streaming(
    path: Path,
    shapes: dict[str, tuple[int, ...]],
    tensors: Iterator[tuple[str, Tensor]],
    dtypes: dict[str, torch.dtype],
    metadata: dict[str, str],
) -> None:
    """Writes a safetensors file whose header is known up front, then each tensor as it comes
    (``diffusion.saving.stream``)."""
    entries = [TensorEntry(key, shape, dtypes[key]) for key, shape in shapes.items()]
    with path.open("wb") as fh:
        write_safetensors(fh, entries, tensors, metadata)


def make_checkpoint(
    arch: Arch,
    out: str | Path,
    *,
    tiny: bool = False,
    seed: int = 0,
    file_format: Literal["safetensors", "ckpt"] = "safetensors",
    dtype: WeightDtype = "fp16",
    layout_json: bool = False,
) -> Path:
    """Writes a random-weight ``arch`` checkpoint (or its ``{key: shape}`` JSON) to ``out``.

    ``sd21-v`` carries the ``v_pred`` marker key and ``modelspec.prediction_type=v`` metadata.
    ``ckpt`` files are built in memory (torch.save needs the whole dict); use them only when tiny.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(_DTYPES)}")
    out = Path(out)
    shapes = layout_shapes(arch, tiny=tiny)
    if layout_json:
        out.write_text(json.dumps({k: list(v) for k, v in shapes.items()}, indent=0))
        return out
    torch_dtype = _DTYPES[dtype]
    metadata = {"latentgraph.arch": arch, "latentgraph.seed": str(seed)}
    if arch == "sd21-v" or arch in UNCLIP_VISION:
        metadata["modelspec.prediction_type"] = "v"
    dtypes = {k: _dtype_of(k, torch_dtype) for k in shapes}
    # Widest dtypes first, so every tensor's data offset is aligned to its element size.
    shapes = dict(sorted(shapes.items(), key=lambda kv: -dtypes[kv[0]].itemsize))
    tensors = _tensors(shapes, seed, torch_dtype)
    if file_format == "safetensors":
        write_safetensors_streaming(out, shapes, tensors, dtypes, metadata)
    elif file_format == "ckpt":
        torch.save({"state_dict": dict(tensors)}, out)
    else:
        raise ValueError(f"unknown file_format {file_format!r}; choose 'safetensors' or 'ckpt'")
    logger.info("wrote %s (%s, tiny=%s, %d tensors)", out, arch, tiny, len(shapes))
    return out
