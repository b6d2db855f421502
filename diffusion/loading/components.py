"""Standalone component files: a VAE or a UNet on its own.

Accepted layouts: the single-file prefixes (``first_stage_model.`` / ``model.diffusion_model.``),
bare LDM keys (``encoder.conv_in.weight``, ``input_blocks.0.0.weight``), and diffusers
``AutoencoderKL`` / ``UNet2DConditionModel`` weight files. Checkpoints holding more than the
component (a full single file) work too: only the component's keys are read.
"""

from __future__ import annotations

from pathlib import Path

import torch

from diffusion.loading.checkpoint import (
    Prediction,
    check_layout,
    load_into,
    prediction_type,
    read_one,
)
from diffusion.loading.detect import (
    UNET_PREFIX,
    VAE_PREFIX,
    detect_unet,
    detect_vae,
    family_from_unet,
)
from diffusion.loading.diffusers_folder import MappedSource, add_unet, add_vae
from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import TensorFile, TensorSource, read_tensor_file
from diffusion.unet.config import Family
from diffusion.unet.model import UNetModel
from diffusion.vae.model import AutoencoderKL


def _prefixed(file: TensorFile, prefix: str) -> MappedSource:
    """``file``'s bare keys presented under ``prefix``."""
    source = MappedSource(file.path, metadata=dict(file.metadata))
    for key, shape in file.shapes.items():
        source.add(prefix + key, shape, lambda k=key: file.get(k))
    return source


def _vae_source(file: TensorFile) -> TensorSource:
    if any(k.startswith(VAE_PREFIX) for k in file.shapes):
        return file
    if "encoder.conv_in.weight" not in file.shapes:
        raise UnknownModelError(f"{file.path}: no VAE keys (encoder.conv_in.weight) found")
    if any(k.startswith("encoder.down_blocks.") for k in file.shapes):
        source = MappedSource(file.path, metadata=dict(file.metadata))
        add_vae(source, file)
        return source
    return _prefixed(file, VAE_PREFIX)


def load_vae(path: str | Path, *, dtype: torch.dtype = torch.float32) -> AutoencoderKL:
    """A KL autoencoder from a standalone VAE file (LDM or diffusers keys) or a full checkpoint."""
    file = read_tensor_file(path)
    source = _vae_source(file)
    try:
        config = detect_vae(source.shapes)
    except UnknownModelError as exc:
        raise UnknownModelError(f"{file.path}: {exc}") from exc
    with torch.device("meta"):
        vae = AutoencoderKL(config)
    expected = {VAE_PREFIX + k: tuple(v.shape) for k, v in vae.state_dict().items()}
    vae_keys = {k: v for k, v in source.shapes.items() if k.startswith(VAE_PREFIX)}
    check_layout(file.path, vae_keys, expected)
    load_into({VAE_PREFIX: vae}, source, dtype)
    return vae


def _unet_source(file: TensorFile) -> TensorSource:
    if any(k.startswith(UNET_PREFIX) for k in file.shapes):
        return file
    if "input_blocks.0.0.weight" in file.shapes:
        return _prefixed(file, UNET_PREFIX)
    if "conv_in.weight" in file.shapes and any(k.startswith("down_blocks.") for k in file.shapes):
        source = MappedSource(file.path, metadata=dict(file.metadata))
        add_unet(source, file)
        return source
    raise UnknownModelError(f"{file.path}: no UNet keys (input_blocks.0.0 / conv_in) found")


def load_unet(
    path: str | Path, *, family: Family | None = None, dtype: torch.dtype = torch.float32
) -> tuple[UNetModel, Family, Prediction]:
    """A UNet from a standalone file; ``family`` is needed only when its widths are not a
    published family's (context 768 / 1024 / 2048 / 1280)."""
    file = read_tensor_file(path)
    source = _unet_source(file)
    try:
        config = detect_unet(source.shapes, UNET_PREFIX, family)
    except UnknownModelError as exc:
        raise UnknownModelError(f"{file.path}: {exc}") from exc
    with torch.device("meta"):
        unet = UNetModel(config)
    expected = {UNET_PREFIX + k: tuple(v.shape) for k, v in unet.state_dict().items()}
    unet_keys = {k: v for k, v in source.shapes.items() if k.startswith(UNET_PREFIX)}
    check_layout(file.path, unet_keys, expected)
    load_into({UNET_PREFIX: unet}, source, dtype)
    detected = family or family_from_unet(config.context_dim, config.adm_in_channels)
    said = prediction_type(file.shapes, file.metadata, family=detected,
                           in_channels=config.in_channels,
                           adm_in_channels=config.adm_in_channels,
                           read=lambda key: read_one(source, key))
    return unet, detected, said
