"""Opening ControlNet and T2I-Adapter files for the ``ModelManager``: headers only, the layout
detected and checked; weights are read when a sampler uses the handle.

``open_control_file(file)`` returns a ``ControlFile`` (a ``ComponentSource`` with one component,
``"controlnet"`` or ``"t2i_adapter"``) for a ControlNet or T2I-Adapter file in any supported
layout, or None when the file is neither. Control-LoRA files are not modules of their own (they
are rebuilt from the sampled model: ``diffusion.control.control_lora``), so they open as None
here; ``control_kind`` tells them apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from diffusion.control.controlnet import ControlNetConfig, ControlNetModel
from diffusion.control.layout import (
    CONTROL_PREFIX,
    DIFFERENCE_KEY,
    control_kind,
    controlnet_from_diffusers,
    detect_adapter,
    detect_controlnet,
    guess_family,
    t2i_from_diffusers,
)
from diffusion.control.t2i_adapter import AdapterConfig, T2IAdapter
from diffusion.loading.checkpoint import check_layout, load_into
from diffusion.loading.diffusers_folder import MappedSource
from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import TensorFile, TensorSource
from diffusion.unet.config import Family

logger = logging.getLogger(__name__)

ADAPTER_PREFIX = "adapter."


@dataclass(frozen=True, eq=False)
class ControlFile:
    """One ControlNet or T2I-Adapter under ``prefix`` of ``source`` (a ``ComponentSource``)."""

    component: str  # "controlnet" or "t2i_adapter"
    prefix: str
    source: TensorSource
    config: ControlNetConfig | AdapterConfig
    family: Family | None  # the published family it is for, None when its widths are unknown
    difference: bool = False  # a diff ControlNet: weights relative to its base model

    @property
    def label(self) -> str:
        return self.source.path.name

    def prefixes(self) -> dict[str, str]:
        return {self.component: self.prefix}

    def build(self) -> nn.Module:
        if isinstance(self.config, ControlNetConfig):
            return ControlNetModel(self.config)
        return T2IAdapter(self.config)

    def empty(self, name: str) -> nn.Module:
        if name != self.component:
            raise KeyError(f"component {name!r} not in {self.source.path}; has {self.component!r}")
        with torch.device("meta"):
            return self.build()

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32) -> int:
        module = self.empty(name)
        return sum(t.numel() for t in [*module.parameters(), *module.buffers()]) * dtype.itemsize

    def load(self, name: str, *, dtype: torch.dtype = torch.float32) -> nn.Module:
        module = self.empty(name)
        load_into({self.prefix: module}, self.source, dtype)
        return module


def _renamed(file: TensorFile, names: dict[str, str], prefix: str) -> MappedSource:
    source = MappedSource(file.path, metadata=dict(file.metadata))
    for theirs, ours in names.items():
        source.add(prefix + ours, file.shapes[theirs], lambda k=theirs: file.get(k))
    return source


def _controlnet_source(file: TensorFile) -> TensorSource:
    keys = file.shapes
    if any(k.startswith(CONTROL_PREFIX) for k in keys):
        return file
    if "controlnet_cond_embedding.conv_in.weight" in keys:
        return _renamed(file, controlnet_from_diffusers(list(keys)), CONTROL_PREFIX)
    return _renamed(file, {k: k for k in keys if "." in k}, CONTROL_PREFIX)


def _adapter_source(file: TensorFile) -> TensorSource:
    if any(k.startswith(ADAPTER_PREFIX) for k in file.shapes):
        return _renamed(file, t2i_from_diffusers(file.shapes), "")
    return file


def _checked(source: TensorSource, prefix: str, build: Callable[[], nn.Module]) -> None:
    with torch.device("meta"):
        module = build()
    expected = {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: v for k, v in source.shapes.items() if k.startswith(prefix)}
    check_layout(source.path, found, expected)


def _open_controlnet(file: TensorFile) -> ControlFile:
    source = _controlnet_source(file)
    try:
        config = detect_controlnet(source.shapes)
    except UnknownModelError as exc:
        raise UnknownModelError(f"{file.path}: {exc}") from exc
    unet = config.unet
    opened = ControlFile("controlnet", CONTROL_PREFIX, source, config,
                         guess_family(unet.context_dim, unet.adm_in_channels),
                         difference=DIFFERENCE_KEY in file.shapes)
    _checked(source, CONTROL_PREFIX, opened.build)
    return opened


def _open_adapter(file: TensorFile) -> ControlFile:
    source = _adapter_source(file)
    try:
        config = detect_adapter(source.shapes)
    except UnknownModelError as exc:
        raise UnknownModelError(f"{file.path}: {exc}") from exc
    family: Family = "sdxl" if config.kind == "full_xl" else "sd1"
    opened = ControlFile("t2i_adapter", "", source, config, family)
    _checked(source, "", opened.build)
    return opened


def open_control_file(file: TensorFile) -> ControlFile | None:
    """The file's ControlNet or T2I-Adapter, layout checked (None: not one of those)."""
    kind = control_kind(file.shapes)
    if kind == "controlnet":
        opened = _open_controlnet(file)
    elif kind == "t2i_adapter":
        opened = _open_adapter(file)
    else:
        return None
    logger.info("%s: opened as a %s (%s)", file.path, opened.component, opened.family or "?")
    return opened


__all__ = ["ControlFile", "open_control_file"]
