"""Reading a diffusers pipeline folder as if it were a single-file checkpoint.

The folder's component weights (``unet/``, ``vae/``, ``text_encoder/``, ``text_encoder_2/``) are
presented under the original single-file keys, so the normal detection and loading run on them.
The structure needed for the key maps (blocks, levels, layers) is read from the diffusers keys;
the family from which components exist and from the UNet's projection kind. The prediction type
comes from ``scheduler/scheduler_config.json``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from diffusion.loading.detect import TEXT_SLOTS, UNET_PREFIX, VAE_PREFIX
from diffusion.loading.diffusers_keys import (
    invert,
    key_map,
    open_clip_from_hf,
    unet_prefixes,
    vae_prefixes,
    vae_tensor_from_diffusers,
)
from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import TensorFile, read_tensor_file
from diffusion.unet.config import Family, UNetConfig
from diffusion.vae.model import VAEConfig

logger = logging.getLogger(__name__)

# Metadata flag: the SD2 text tower lacks its last layer (diffusers keeps 23 of ViT-H's 24).
SD2_TEXT_TRUNCATED = "latentgraph.sd2_text_without_last_layer"
WEIGHT_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "model.fp16.safetensors",
    "diffusion_pytorch_model.bin",
    "pytorch_model.bin",
)


@dataclass
class MappedSource:
    """A ``TensorSource`` whose keys are renamed (or computed) views of other files' tensors."""

    path: Path
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    _thunks: dict[str, Callable[[], Tensor]] = field(default_factory=dict)

    def tensors(self, keys: list[str] | None = None) -> Iterator[tuple[str, Tensor]]:
        for key in list(self.shapes) if keys is None else keys:
            yield key, self._thunks[key]()

    def add(self, key: str, shape: tuple[int, ...], thunk: Callable[[], Tensor]) -> None:
        self.shapes[key] = shape
        self._thunks[key] = thunk


def is_diffusers_folder(path: Path) -> bool:
    return path.is_dir() and (path / "unet").is_dir()


def _weights(folder: Path) -> TensorFile | None:
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return read_tensor_file(folder / name)
    return None


def _count(keys: list[str], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in keys if (m := rx.match(k))})


def _unet_structure(keys: list[str]) -> UNetConfig:
    """Block structure of a diffusers UNet (enough for the key map), read from its keys."""
    levels = _count(keys, r"down_blocks\.(\d+)\.")
    res = tuple(_count(keys, rf"down_blocks\.{i}\.resnets\.(\d+)\.") for i in range(levels))

    def depth(block: str) -> int:
        return _count(keys, re.escape(block) + r"transformer_blocks\.(\d+)\.")

    depth_in = tuple(
        depth(f"down_blocks.{i}.attentions.{j}.") for i in range(levels) for j in range(res[i])
    )
    depth_out = tuple(
        depth(f"up_blocks.{u}.attentions.{j}.")
        for u in range(levels)
        for j in range(res[levels - 1 - u] + 1)
    )
    has_mid = any(k.startswith("mid_block.") for k in keys)
    return UNetConfig(
        in_channels=4,
        out_channels=4,
        model_channels=1,
        channel_mult=(1,) * levels,
        num_res_blocks=res,
        transformer_depth=depth_in,
        transformer_depth_output=depth_out,
        transformer_depth_middle=depth("mid_block.attentions.0.") if has_mid else None,
        context_dim=1,
        num_heads=1,
    )


def add_unet(source: MappedSource, weights: TensorFile) -> bool:
    """Adds the UNet; returns whether its transformer projections are linear (SD2 / SDXL)."""
    keys = list(weights.shapes)
    to_ours = key_map(keys, invert(unet_prefixes(_unet_structure(keys))))
    for theirs, ours in to_ours.items():
        source.add(UNET_PREFIX + ours, weights.shapes[theirs], lambda k=theirs: weights.get(k))
    proj = [s for k, s in weights.shapes.items() if k.endswith("proj_in.weight")]
    return bool(proj) and len(proj[0]) == 2


def add_vae(source: MappedSource, weights: TensorFile) -> None:
    keys = list(weights.shapes)
    levels = _count(keys, r"encoder\.down_blocks\.(\d+)\.")
    res = _count(keys, r"encoder\.down_blocks\.0\.resnets\.(\d+)\.")
    structure = VAEConfig(ch_mult=(1,) * levels, num_res_blocks=res)
    for theirs, ours in key_map(keys, invert(vae_prefixes(structure))).items():
        shape = weights.shapes[theirs]
        if ".mid.attn_1." in ours and ours.endswith("weight") and len(shape) == 2:
            shape = (*shape, 1, 1)

        def thunk(theirs: str = theirs, ours: str = ours) -> Tensor:
            return vae_tensor_from_diffusers(ours, weights.get(theirs))

        source.add(VAE_PREFIX + ours, shape, thunk)


def add_clip(source: MappedSource, weights: TensorFile, prefix: str) -> None:
    """transformers CLIP-L keys are ours up to the ``text_model.`` wrapper (flattened in 5.x)."""
    for theirs, shape in weights.shapes.items():
        ours = theirs if theirs.startswith("text_model.") else "text_model." + theirs
        source.add(prefix + ours, shape, lambda k=theirs: weights.get(k))


def add_open_clip(source: MappedSource, weights: TensorFile, prefix: str) -> None:
    def hf_key(key: str) -> str:
        return key if key.startswith(("text_model.", "text_projection")) else "text_model." + key

    original = {hf_key(k): k for k in weights.shapes}
    shapes = {k: weights.shapes[v] for k, v in original.items()}
    for ours, (shape, thunk) in open_clip_from_hf(
        shapes, lambda k: weights.get(original[k])
    ).items():
        source.add(prefix + ours, shape, thunk)


def _family(folder: Path, linear_unet: bool) -> Family:
    has_l, has_g = (folder / "text_encoder").is_dir(), (folder / "text_encoder_2").is_dir()
    if has_l and has_g:
        return "sdxl"
    if has_g:
        return "sdxl_refiner"
    return "sd2" if linear_unet else "sd1"


def _prediction(folder: Path) -> dict[str, str]:
    config = folder / "scheduler" / "scheduler_config.json"
    if not config.is_file():
        return {}
    value = json.loads(config.read_text()).get("prediction_type")
    return {"prediction_type": str(value)} if value else {}


def read_diffusers_folder(path: Path) -> MappedSource:
    """Presents a diffusers pipeline folder under single-file keys."""
    unet = _weights(path / "unet")
    if unet is None:
        raise UnknownModelError(f"{path}: diffusers folder has no unet weights ({WEIGHT_NAMES[0]})")
    source = MappedSource(path, metadata=_prediction(path))
    family = _family(path, add_unet(source, unet))
    if family == "sd2":
        source.metadata[SD2_TEXT_TRUNCATED] = "1"
    vae = _weights(path / "vae")
    if vae is not None:
        add_vae(source, vae)
    folders = {"sdxl": ("text_encoder", "text_encoder_2"), "sdxl_refiner": ("text_encoder_2",)}
    for slot, name in zip(TEXT_SLOTS[family], folders.get(family, ("text_encoder",)), strict=True):
        weights = _weights(path / name)
        if weights is None:
            logger.warning("%s: no weights in %s/", path, name)
        elif slot.kind == "clip":
            add_clip(source, weights, slot.prefix)
        else:
            add_open_clip(source, weights, slot.prefix)
    logger.info("%s: diffusers folder read as %s", path, family)
    return source
