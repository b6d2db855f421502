"""A file (or part of one) holding one module: the ``ComponentSource`` of adapter-like models.

CLIP vision towers, IP-Adapters and style models each open as a ``ModuleFile``: the tensors of
``source`` under ``prefix`` are the state dict of the module ``build`` makes, checked against
it when the file is opened (:func:`module_file`), read only when the component is loaded.
``config`` is what detection found (the module's configuration, a kind), for the loaders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import nn

from diffusion.loading.checkpoint import check_layout, load_into
from diffusion.loading.diffusers_folder import MappedSource
from diffusion.loading.files import TensorSource

ConfigT = TypeVar("ConfigT")


@dataclass(frozen=True, eq=False)
class ModuleFile(Generic[ConfigT]):
    """Component ``component`` of ``source``: the keys under ``prefix``."""

    component: str
    prefix: str
    source: TensorSource
    build: Callable[[], nn.Module]  # the empty module; called under torch.device("meta")
    config: ConfigT

    def prefixes(self) -> dict[str, str]:
        return {self.component: self.prefix}

    def empty(self, name: str) -> nn.Module:
        """The module on the meta device: names and shapes, no weights."""
        if name != self.component:
            raise KeyError(f"component {name!r} not in {self.source.path}; has "
                           f"{self.component!r}")
        with torch.device("meta"):
            return self.build()

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32) -> int:
        module = self.empty(name)
        return sum(t.numel() for t in [*module.parameters(), *module.buffers()]) * dtype.itemsize

    def load(self, name: str, *, dtype: torch.dtype = torch.float32) -> nn.Module:
        module = self.empty(name)
        load_into({self.prefix: module}, self.source, dtype)
        return module


def module_file(component: str, prefix: str, source: TensorSource,
                build: Callable[[], nn.Module], config: ConfigT) -> ModuleFile[ConfigT]:
    """A checked ``ModuleFile``: ``UnknownModelError`` names missing, unexpected and
    mis-shaped keys under ``prefix``."""
    with torch.device("meta"):
        module = build()
    expected = {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: v for k, v in source.shapes.items() if k.startswith(prefix)}
    check_layout(source.path, found, expected)
    return ModuleFile(component, prefix, source, build, config)


def reader(source: TensorSource) -> Callable[[str], torch.Tensor]:
    """``read(key)``: one tensor of ``source``."""

    def read(key: str) -> torch.Tensor:
        return next(iter(source.tensors([key])))[1]

    return read


def prefixed_source(source: TensorSource, prefix: str) -> MappedSource:
    """``source``'s keys presented under ``prefix`` (read lazily)."""
    read = reader(source)
    out = MappedSource(source.path, metadata=dict(source.metadata))
    for key, shape in source.shapes.items():
        out.add(prefix + key, shape, lambda k=key: read(k))
    return out
