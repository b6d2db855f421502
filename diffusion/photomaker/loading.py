"""Reading PhotoMaker files (``models/photomaker``): ``photomaker-v1.bin`` (a weights-only pickle
whose ``id_encoder`` dict is the encoder; its ``lora_weights`` are not read, as ComfyUI's
PhotoMakerLoader does not) or a safetensors file with the encoder's keys, bare or under
``id_encoder.``.

The image tower's widths, depth, patch and image size and both projections' widths are read
from the shapes (OpenAI conventions: 64-wide heads, quick GELU); the layout is then checked key
by key, so a cut file is refused naming the missing keys. transformers' ``position_ids`` buffer,
which older saves carry, is ignored.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from diffusion.loading.checkpoint import check_layout
from diffusion.loading.errors import CheckpointError, UnknownModelError
from diffusion.loading.files import read_tensor_file
from diffusion.photomaker.model import PhotoMakerConfig, PhotoMakerIDEncoder
from diffusion.vision import VisionConfig

logger = logging.getLogger(__name__)

SECTION = "id_encoder"
VISION_HEAD_WIDTH = 64  # OpenAI CLIP ViT heads
_LAYER = re.compile(r"^vision_model\.encoder\.layers\.(\d+)\.")
Shapes = Mapping[str, tuple[int, ...]]


class PhotoMakerError(CheckpointError):
    """A file that is not a usable PhotoMaker ID encoder."""


def encoder_keys(shapes: Shapes) -> dict[str, str]:
    """``{our key: file key}``: the ``id_encoder.`` prefix dropped when the file has one, the
    ``position_ids`` buffer left out."""
    prefixed = any(k.startswith(SECTION + ".") for k in shapes)
    out = {}
    for key in shapes:
        if prefixed and not key.startswith(SECTION + "."):
            continue
        ours = key[len(SECTION) + 1:] if prefixed else key
        if not ours.endswith("embeddings.position_ids"):
            out[ours] = key
    return out


def _dim(shapes: Shapes, key: str, axis: int, path: Path) -> int:
    if key not in shapes:
        raise PhotoMakerError(f"{path}: not a PhotoMaker ID encoder: {key} missing "
                              f"({len(shapes)} keys, e.g. {sorted(shapes)[:3]})")
    return shapes[key][axis]


def photomaker_config(shapes: Shapes, path: Path) -> PhotoMakerConfig:
    """The configuration the encoder's keys (under our names) describe."""
    hidden = _dim(shapes, "vision_model.embeddings.class_embedding", 0, path)
    patch = _dim(shapes, "vision_model.embeddings.patch_embedding.weight", 2, path)
    positions = _dim(shapes, "vision_model.embeddings.position_embedding.weight", 0, path)
    side = math.isqrt(positions - 1)
    layers = 1 + max((int(m[1]) for k in shapes if (m := _LAYER.match(k))), default=-1)
    mlp_width = _dim(shapes, "vision_model.encoder.layers.0.mlp.fc1.weight", 0, path)
    projection_dim = _dim(shapes, "visual_projection.weight", 0, path)
    try:
        heads = max(1, hidden // VISION_HEAD_WIDTH)
        vision = VisionConfig(width=hidden, layers=layers, heads=heads,
                              mlp_width=mlp_width, projection_dim=projection_dim,
                              patch_size=patch, image_size=side * patch, activation="quick_gelu")
    except ValueError as exc:
        raise PhotoMakerError(f"{path}: not a usable PhotoMaker image tower: {exc}") from exc
    return PhotoMakerConfig(vision, _dim(shapes, "visual_projection_2.weight", 0, path))


def check_photomaker_layout(shapes: Shapes, path: Path) -> PhotoMakerConfig:
    """The configuration of an encoder's keys, its layout checked: raises ``PhotoMakerError``
    naming missing, unexpected and mis-shaped keys."""
    config = photomaker_config(shapes, path)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in PhotoMakerIDEncoder(config).state_dict().items()}
    try:
        check_layout(path, shapes, expected)
    except UnknownModelError as exc:
        raise PhotoMakerError(str(exc).replace("the detected model", "a PhotoMaker ID encoder")
                              ) from exc
    return config


def load_photomaker(path: str | Path) -> PhotoMakerIDEncoder:
    """The PhotoMaker ID encoder in ``path``, on the CPU in float32, its layout checked."""
    path = Path(path)
    try:
        source = read_tensor_file(path, section=SECTION)
    except (CheckpointError, OSError) as exc:
        raise PhotoMakerError(f"PhotoMaker file {path.name!r} cannot be read: {exc}") from exc
    names = encoder_keys(source.shapes)
    config = check_photomaker_layout({o: source.shapes[t] for o, t in names.items()}, path)
    with torch.device("meta"):
        model = PhotoMakerIDEncoder(config)
    wanted = set(model.state_dict())
    keys = {o: t for o, t in names.items() if o in wanted}
    state = {ours: tensor.float() for ours, (_, tensor) in zip(
        keys, source.tensors(list(keys.values())), strict=True)}
    model.load_state_dict(state, strict=True, assign=True)
    logger.info("%s: PhotoMaker ID encoder, %d-layer image tower", path, config.vision.layers)
    return model.eval().requires_grad_(False)
