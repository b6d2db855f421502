"""The ModelManager's opener: a full checkpoint, or a file holding one component.

``open_model_file(path)`` reads only headers (safetensors) and checks the layout; weights are
read by ``load`` when a consumer uses a handle. A ControlNet or T2I-Adapter file opens as a
``diffusion.control.ControlFile`` (component ``controlnet`` / ``t2i_adapter``), checked first:
lllyasviel's 1.0 ControlNets also carry a whole SD1.5 checkpoint. A full single-file
checkpoint (or diffusers folder) opens as ``diffusion.loading.OpenedCheckpoint`` with
components ``unet``, ``vae``, ``clip_l`` / ``clip_h`` / ``clip_g``. Otherwise the file must hold
one component:

* ``vae``: a VAE (``first_stage_model.`` keys, bare LDM keys or diffusers ``AutoencoderKL``);
* ``unet``: a UNet (bare LDM keys or diffusers ``UNet2DConditionModel``); its family comes from
  its widths (published families only), its prediction type from the ``v_pred`` marker or
  metadata, zero-terminal-SNR from the ``ztsnr`` marker, as ComfyUI reads them;
* ``text``: a CLIP text encoder, bare transformers keys (``text_model.…``; width 768 is CLIP-L,
  1024 / 1280 or a ``text_projection`` make it OpenCLIP ViT-H / bigG) or bare OpenCLIP keys
  (``transformer.resblocks.…``). Which slot it fills is the loader's choice;
* ``clip_vision``: a CLIP image tower (``diffusion.vision``), also inside SD2.1 unCLIP
  checkpoints; ``ipadapter``: an IP-Adapter (``diffusion.ipadapter``); ``style_model``: a
  T2I-Adapter style model (``diffusion.style``).

This belongs in ``diffusion.loading`` (it only composes its public pieces); it lives here until
that package offers a component opener.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from diffusion import latent_format
from diffusion.control.files import open_control_file
from diffusion.ipadapter import open_ipadapter_file
from diffusion.latent_format import LatentFormat
from diffusion.loading import OpenedCheckpoint, UnknownModelError, open_checkpoint
from diffusion.loading.checkpoint import (
    ZSNR_KEY,
    Prediction,
    check_layout,
    load_into,
    prediction_type,
    read_one,
    stored_nbytes,
)
from diffusion.loading.detect import (
    UNET_PREFIX,
    VAE_PREFIX,
    TextKind,
    TextSlot,
    detect_text,
    detect_unet,
    detect_vae,
    family_of_unet,
)
from diffusion.loading.diffusers_folder import MappedSource, add_open_clip, add_unet, add_vae
from diffusion.loading.files import TensorFile, TensorSource, read_tensor_file
from diffusion.memory import ComponentSource
from diffusion.meta_init import meta_init_skipped
from diffusion.style import open_style_file
from diffusion.text.clip import CLIPTextModel, OpenCLIPTextModel, TextEncoderConfig
from diffusion.unet.config import Family
from diffusion.unet.model import UNetModel
from diffusion.vae.model import AutoencoderKL
from diffusion.vision import open_vision_file, with_embedded_vision

logger = logging.getLogger(__name__)

TEXT_PREFIX = "text."
_CLIP_L_WIDTH = 768
_OPEN_CLIP_WIDTHS = (1024, 1280)
_DROPPED_CLIP_KEYS = ("text_projection.weight", "logit_scale")


def latent_format_of(family: Family | None) -> LatentFormat:
    return latent_format.family_latent_format(family)


@dataclass(frozen=True, eq=False)
class ComponentFile:
    """A file holding one component under its LDM prefix (a ``ComponentSource``)."""

    component: str  # "vae", "unet" or "text"
    prefix: str
    source: TensorSource
    build: Callable[[], nn.Module]  # the empty module; called under torch.device("meta")
    family: Family | None = None
    prediction: Prediction = "eps"
    zsnr: bool = False
    in_channels: int = 4
    adm_in_channels: int | None = None
    text_kind: TextKind | None = None
    text_config: TextEncoderConfig | None = None

    @property
    def latent_format(self) -> LatentFormat:
        return latent_format_of(self.family)

    def prefixes(self) -> dict[str, str]:
        return {self.component: self.prefix}

    def empty(self, name: str) -> nn.Module:
        """The component built on the meta device (names and shapes, no weights)."""
        if name != self.component:
            raise KeyError(f"component {name!r} not in {self.source.path}; has {self.component!r}")
        with torch.device("meta"), meta_init_skipped():
            return self.build()

    supports_keep_half: ClassVar[bool] = True  # ``load``/``nbytes`` take ``keep_half``

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32,
               keep_half: bool = False) -> int:
        return stored_nbytes(self.empty(name), self.prefix, self.source, dtype,
                             keep_half=keep_half)

    def load(self, name: str, *, dtype: torch.dtype = torch.float32,
             keep_half: bool = False) -> nn.Module:
        module = self.empty(name)
        load_into({self.prefix: module}, self.source, dtype, keep_half=keep_half)
        return module


def _prefixed(file: TensorFile, prefix: str, skip: tuple[str, ...] = ()) -> MappedSource:
    """``file``'s bare keys presented under ``prefix`` (keys in ``skip`` left out)."""
    source = MappedSource(file.path, metadata=dict(file.metadata))
    for key, shape in file.shapes.items():
        if key not in skip:
            source.add(prefix + key, shape, lambda k=key: file.get(k))
    return source


def _checked(source: TensorSource, prefix: str, build: Callable[[], nn.Module]) -> None:
    with torch.device("meta"), meta_init_skipped():
        module = build()
    expected = {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: v for k, v in source.shapes.items() if k.startswith(prefix)}
    check_layout(source.path, found, expected)


def _vae_file(file: TensorFile) -> ComponentFile | None:
    keys = file.shapes
    if any(k.startswith(VAE_PREFIX) for k in keys):
        source: TensorSource = file
    elif "encoder.conv_in.weight" not in keys:
        return None
    elif any(k.startswith("encoder.down_blocks.") for k in keys):
        source = MappedSource(file.path, metadata=dict(file.metadata))
        add_vae(source, file)
    else:
        source = _prefixed(file, VAE_PREFIX)
    config = detect_vae(source.shapes)

    def build() -> nn.Module:
        return AutoencoderKL(config)

    _checked(source, VAE_PREFIX, build)
    return ComponentFile("vae", VAE_PREFIX, source, build)


def _unet_file(file: TensorFile) -> ComponentFile | None:
    keys = file.shapes
    if "input_blocks.0.0.weight" in keys:
        source: TensorSource = _prefixed(file, UNET_PREFIX)
    elif "conv_in.weight" in keys and any(k.startswith("down_blocks.") for k in keys):
        source = MappedSource(file.path, metadata=dict(file.metadata))
        add_unet(source, file)
    else:
        return None
    config = detect_unet(source.shapes, UNET_PREFIX)
    family = family_of_unet(config)

    def build() -> nn.Module:
        return UNetModel(config)

    _checked(source, UNET_PREFIX, build)
    return ComponentFile("unet", UNET_PREFIX, source, build, family=family,
                         prediction=prediction_type(
                             file.shapes, file.metadata, family=family,
                             in_channels=config.in_channels,
                             adm_in_channels=config.adm_in_channels,
                             read=lambda key: read_one(source, key)),
                         zsnr=ZSNR_KEY in file.shapes, in_channels=config.in_channels,
                         adm_in_channels=config.adm_in_channels)


def _text_source(file: TensorFile) -> tuple[TensorSource, TextKind] | None:
    keys = file.shapes
    token = next((k for k in ("text_model.embeddings.token_embedding.weight",
                              "embeddings.token_embedding.weight") if k in keys), None)
    if token is not None:
        width = keys[token][1]
        open_clip = width in _OPEN_CLIP_WIDTHS or (
            width != _CLIP_L_WIDTH and "text_projection.weight" in keys)
        if not open_clip:
            clip = MappedSource(file.path, metadata=dict(file.metadata))
            for key, shape in keys.items():
                if key not in _DROPPED_CLIP_KEYS:
                    ours = key if key.startswith("text_model.") else "text_model." + key
                    clip.add(TEXT_PREFIX + ours, shape, lambda k=key: file.get(k))
            return clip, "clip"
        mapped = MappedSource(file.path, metadata=dict(file.metadata))
        add_open_clip(mapped, file, TEXT_PREFIX)
        return mapped, "open_clip"
    if "token_embedding.weight" in keys and "transformer.resblocks.0.attn.in_proj_weight" in keys:
        return _prefixed(file, TEXT_PREFIX), "open_clip"
    return None


def _text_file(file: TensorFile) -> ComponentFile | None:
    found = _text_source(file)
    if found is None:
        return None
    source, kind = found
    config = detect_text(source.shapes, TextSlot("text", TEXT_PREFIX, kind, -1, True))

    def build() -> nn.Module:
        return CLIPTextModel(config) if kind == "clip" else OpenCLIPTextModel(config)

    _checked(source, TEXT_PREFIX, build)
    return ComponentFile("text", TEXT_PREFIX, source, build, text_kind=kind, text_config=config)


_PROBES: tuple[Callable[[TensorFile], ComponentSource | None], ...] = (
    _vae_file, _unet_file, _text_file, open_vision_file, open_ipadapter_file, open_style_file)


def open_model_file(path: Path) -> ComponentSource:
    """A control model, a full checkpoint (with the CLIP vision tower of an SD2.1 unCLIP one),
    or a VAE / UNet / text-encoder / CLIP vision / IP-Adapter / style model file (see the module
    docstring)."""
    path = Path(path)
    if path.is_file():
        control = open_control_file(read_tensor_file(path))
        if control is not None:
            return control
    try:
        return with_embedded_vision(open_checkpoint(path))
    except UnknownModelError as exc:
        checkpoint_error = exc
    if path.is_dir():
        raise checkpoint_error
    file = read_tensor_file(path)
    if any(k.startswith(UNET_PREFIX) for k in file.shapes):
        raise checkpoint_error  # a checkpoint whose layout is wrong: say why
    for probe in _PROBES:
        opened = probe(file)
        if opened is not None:
            component = next(iter(opened.prefixes()))
            logger.info("%s: opened as a standalone %s file", path, component)
            return opened
    raise UnknownModelError(
        f"{path}: not a checkpoint ({checkpoint_error}), nor a VAE, UNet, CLIP text-encoder, "
        "CLIP vision, IP-Adapter or style model file"
    )


@dataclass(frozen=True)
class UNetInfo:
    """What the MODEL payload needs to know about an opened UNet component."""

    family: Family
    prediction: Prediction
    zsnr: bool
    latent_format: LatentFormat
    in_channels: int
    adm_in_channels: int | None = None


def unet_info(opened: ComponentSource) -> UNetInfo:
    """Family, prediction type and latent format of the UNet in ``opened``."""
    if isinstance(opened, OpenedCheckpoint):
        shapes = opened.source.shapes
        return UNetInfo(opened.layout.family, opened.prediction, ZSNR_KEY in shapes,
                        opened.latent_format, opened.layout.unet.in_channels,
                        opened.layout.unet.adm_in_channels)
    if isinstance(opened, ComponentFile) and opened.component == "unet":
        assert opened.family is not None  # set by _unet_file
        return UNetInfo(opened.family, opened.prediction, opened.zsnr, opened.latent_format,
                        opened.in_channels, opened.adm_in_channels)
    raise TypeError(f"{type(opened).__name__} holds no UNet")
