"""The UPSCALE_MODEL payload: a loaded spandrel model, never modified after loading."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True, eq=False)
class UpscaleModel:
    """A spandrel ``ImageModelDescriptor`` (eval mode, float32, on the CPU) and its file name.

    It is shared by every consumer of the cached loader output: running it on another device
    uses a copy (:meth:`on`), so the payload itself never moves.
    """

    descriptor: Any
    name: str

    @property
    def scale(self) -> int:
        return int(self.descriptor.scale)

    @property
    def architecture(self) -> str:
        return str(self.descriptor.architecture.name)

    @property
    def input_channels(self) -> int:
        return int(self.descriptor.input_channels)

    @property
    def output_channels(self) -> int:
        return int(self.descriptor.output_channels)

    @property
    def nbytes(self) -> int:
        """Bytes of weights held (the output cache counts them: the weights live in the
        payload, not behind a model-manager handle)."""
        module = self.descriptor.model
        tensors = [*module.parameters(), *module.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def on(self, device: torch.device) -> Any:
        """The descriptor on ``device``: itself on its own device, else a moved copy."""
        if self.descriptor.device == device:
            return self.descriptor
        return copy.deepcopy(self.descriptor).to(device)
