"""Wrappers of the network function: another compute dtype (ComfyUI's ``ModelComputeDtype``)
and ``torch.compile`` (``TorchCompileModel``).

Both act on the model's own network (an ``nn.Module``). The network of an entry with weight
hooks is a function that makes its patched copy resident per call; it runs as it is (logged).
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from diffusion.guidance.hooks import ModelHooks, NetworkFn
from diffusion.weight_cast import computing_in

logger = logging.getLogger(__name__)

COMPILE_BACKENDS = ("inductor", "cudagraphs")


def _cast(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.to(dtype)
    return value


CAST_KWARGS = ("y",)  # the timesteps stay float32: their embedding is computed in float32


@dataclass(frozen=True)
class ComputeDtype:
    """Runs the network with its floating-point weights and its inputs (x, context, y) cast to
    ``dtype`` for each call (ComfyUI's manual cast; the stored weights are not changed). The
    output is returned as computed; guidance reads it in float32."""

    dtype: torch.dtype

    def __call__(self, network: NetworkFn) -> NetworkFn:
        if not isinstance(network, nn.Module):
            logger.info("ModelComputeDtype: %r is not a module; it runs in its own dtype",
                        network)
            return network
        module = network

        def run(x: Tensor, timesteps: Tensor, context: Tensor, *args: Any,
                **kwargs: Any) -> Tensor:
            params = {name: _cast(p, self.dtype)
                      for name, p in [*module.named_parameters(), *module.named_buffers()]}
            kwargs = {k: _cast(v, self.dtype) if k in CAST_KWARGS else v
                      for k, v in kwargs.items()}
            inputs = (_cast(x, self.dtype), timesteps, _cast(context, self.dtype), *args)
            with computing_in(self.dtype):  # layers keeping half weights compute in it too
                out: Tensor = torch.func.functional_call(module, params, inputs, kwargs)
            return out

        return run

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(unet_wrappers=(self,))


@dataclass(frozen=True)
class TorchCompile:
    """Runs the network through ``torch.compile(module, backend=...)``, compiled once per
    module while it lives (the model manager's resident copy)."""

    backend: str = "inductor"
    _compiled: weakref.WeakKeyDictionary[nn.Module, Any] = field(
        default_factory=weakref.WeakKeyDictionary, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.backend not in COMPILE_BACKENDS:
            raise ValueError(f"TorchCompileModel: backend {self.backend!r} is unknown; choose "
                             f"one of {list(COMPILE_BACKENDS)}")

    def compiled(self, module: nn.Module) -> Any:
        with self._lock:
            if module not in self._compiled:
                logger.info("compiling %s with torch.compile (backend %s)",
                            type(module).__name__, self.backend)
                self._compiled[module] = torch.compile(module, backend=self.backend)
            return self._compiled[module]

    def __call__(self, network: NetworkFn) -> NetworkFn:
        if not isinstance(network, nn.Module):
            logger.info("TorchCompileModel: %r is not a module; it runs uncompiled", network)
            return network
        device = next(network.parameters()).device
        if self.backend == "cudagraphs" and device.type != "cuda":
            raise ValueError(f"TorchCompileModel: backend 'cudagraphs' needs a CUDA device; "
                             f"the model is on {device}")
        compiled: NetworkFn = self.compiled(network)
        return compiled

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(unet_wrappers=(self,))


__all__ = ["COMPILE_BACKENDS", "ComputeDtype", "TorchCompile"]
