"""Weights stored in one dtype, computed in another: per-layer upcast of half-precision weights.

On a CPU everything computes in float32, and fp16/bf16 checkpoint files leave two choices:

* upcast every weight once on load: a fresh float32 copy, twice the file's bytes in anonymous
  memory (new pages cost about a second per GB on this machine's VM);
* keep the file's half-precision tensors as they are (memory-mapped, zero-copy) and upcast each
  layer's weights when that layer runs: half the memory and an instant load, for a per-step cost
  of one read of the weights (``benchmarks/load.py`` measures both).

``cast_weights(module, dtype)`` sets up the second on a loaded module: every exact
``nn.Linear`` / ``Conv1d`` / ``Conv2d`` / ``GroupNorm`` / ``LayerNorm`` / ``Embedding`` whose
tensors are not all ``dtype`` becomes its ``Cast*`` subclass (same parameters, same state-dict
keys; ``isinstance`` checks still hold), whose forward upcasts its weight and bias per call into a
per-thread scratch buffer that is reused, so no new pages are touched per step. Any other
parameter or buffer in another dtype (a module's own ``nn.Parameter`` used directly in its
forward, like OpenCLIP's fused ``in_proj_weight``) is converted once, here. The upcast values
equal a load-time upcast bit for bit (fp16/bf16 -> fp32 is exact), and so do the outputs.

``compute_dtype_of(module)`` is the dtype inputs should be given in: the module's own
``compute_dtype`` set here, else the dtype of its first floating parameter. Inside
``computing_in(dtype)`` every ``Cast*`` layer computes in ``dtype`` instead (in this thread):
ComfyUI's manual cast (``ModelComputeDtype``) on a model that keeps half weights.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_ALIGN = 16  # elements: each tensor in the scratch buffer starts 64-byte aligned for fp32


class CastScratch:
    """Per-thread scratch memory that one layer's upcast tensors are written into.

    One buffer per (thread, device, dtype), sized on first use to the largest layer and reused
    by every layer of every module that shares this object. A layer's upcast tensors are only
    read inside its own forward, so the next layer can overwrite them. Not used while autograd
    records (the graph would keep a view that the next layer overwrites) or while compiling.
    """

    def __init__(self, numel: int = 0) -> None:
        self.numel = numel
        self._local = threading.local()

    def __deepcopy__(self, memo: dict[int, object]) -> CastScratch:
        return self  # a patched copy runs in the same threads: one buffer is enough

    def _buffer(self, numel: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        buffers: dict[tuple[torch.device, torch.dtype], Tensor] = self._local.__dict__.setdefault(
            "buffers", {})
        buffer = buffers.get((device, dtype))
        if buffer is None or buffer.numel() < numel:
            buffer = torch.empty(max(numel, self.numel), device=device, dtype=dtype)
            buffers[(device, dtype)] = buffer
        return buffer

    @contextmanager
    def cast(self, tensors: tuple[Tensor | None, ...], dtype: torch.dtype
             ) -> Iterator[tuple[Tensor | None, ...]]:
        """``tensors`` in ``dtype``: views of the scratch buffer, valid inside the block."""
        todo = [t for t in tensors if t is not None and t.dtype != dtype]
        if not todo or getattr(self._local, "busy", False) or _recording(todo):
            yield tuple(None if t is None else t.to(dtype) for t in tensors)
            return
        sizes = [-(-t.numel() // _ALIGN) * _ALIGN for t in todo]
        buffer = self._buffer(sum(sizes), todo[0].device, dtype)
        self._local.busy = True
        try:
            out: list[Tensor | None] = []
            offset = 0
            for tensor in tensors:
                if tensor is None or tensor.dtype == dtype:
                    out.append(tensor)
                    continue
                view = buffer[offset : offset + tensor.numel()].view(tensor.shape)
                out.append(view.copy_(tensor))
                offset += -(-tensor.numel() // _ALIGN) * _ALIGN
            yield tuple(out)
        finally:
            self._local.busy = False


def _recording(tensors: list[Tensor]) -> bool:
    if torch.compiler.is_compiling():
        return True
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _input(x: Tensor, dtype: torch.dtype) -> Tensor:
    return x.to(dtype) if x.is_floating_point() and x.dtype != dtype else x


_override = threading.local()


@contextmanager
def computing_in(dtype: torch.dtype) -> Iterator[None]:
    """Every ``Cast*`` layer run in this thread inside the block computes in ``dtype``."""
    previous = getattr(_override, "dtype", None)
    _override.dtype = dtype
    try:
        yield
    finally:
        _override.dtype = previous


class _Cast:
    """Mixin state of a ``Cast*`` layer (set by ``cast_weights``)."""

    compute_dtype: torch.dtype
    cast_scratch: CastScratch

    @property
    def active_dtype(self) -> torch.dtype:
        override: torch.dtype | None = getattr(_override, "dtype", None)
        return override or self.compute_dtype


class CastLinear(nn.Linear, _Cast):
    def forward(self, x: Tensor) -> Tensor:
        dtype = self.active_dtype
        with self.cast_scratch.cast((self.weight, self.bias), dtype) as (w, b):
            assert w is not None
            return F.linear(_input(x, dtype), w, b)


def _cast_conv(layer: nn.Conv1d | nn.Conv2d, x: Tensor) -> Tensor:
    """A convolution layer's forward with its weights upcast per call (``_Cast`` layers)."""
    cast_layer: _Cast = layer  # type: ignore[assignment]
    dtype = cast_layer.active_dtype
    with cast_layer.cast_scratch.cast((layer.weight, layer.bias), dtype) as (w, b):
        assert w is not None
        out: Tensor = layer._conv_forward(_input(x, dtype), w, b)
        return out


class CastConv1d(nn.Conv1d, _Cast):
    def forward(self, x: Tensor) -> Tensor:
        return _cast_conv(self, x)


class CastConv2d(nn.Conv2d, _Cast):
    def forward(self, x: Tensor) -> Tensor:
        return _cast_conv(self, x)


class CastGroupNorm(nn.GroupNorm, _Cast):
    def forward(self, x: Tensor) -> Tensor:
        dtype = self.active_dtype
        with self.cast_scratch.cast((self.weight, self.bias), dtype) as (w, b):
            return F.group_norm(_input(x, dtype), self.num_groups, w, b, self.eps)


class CastLayerNorm(nn.LayerNorm, _Cast):
    def forward(self, x: Tensor) -> Tensor:
        dtype = self.active_dtype
        with self.cast_scratch.cast((self.weight, self.bias), dtype) as (w, b):
            return F.layer_norm(_input(x, dtype), self.normalized_shape, w, b,
                                self.eps)


class CastEmbedding(nn.Embedding, _Cast):
    """Gathers the stored rows, then upcasts only those (the table is never upcast whole)."""

    def forward(self, ids: Tensor) -> Tensor:
        rows = F.embedding(ids, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)
        return rows.to(self.active_dtype)


CAST_TYPES: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: CastLinear,
    nn.Conv1d: CastConv1d,
    nn.Conv2d: CastConv2d,
    nn.GroupNorm: CastGroupNorm,
    nn.LayerNorm: CastLayerNorm,
    nn.Embedding: CastEmbedding,
}


def register_cast_type(base: type[nn.Module], cast: type[nn.Module]) -> None:
    """Another layer type whose own tensors are upcast per call: ``cast`` subclasses ``base``
    and ``CastLayer`` and computes in ``active_dtype`` (e.g. OpenCLIP's fused attention, whose
    ``in_proj_weight`` is a parameter of its own)."""
    if not (issubclass(cast, base) and issubclass(cast, _Cast)):
        raise TypeError(f"cast={cast.__name__} must subclass {base.__name__} and CastLayer")
    CAST_TYPES[base] = cast


def compute_input(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``x`` in ``dtype`` when it is floating (ids and masks pass unchanged)."""
    return _input(x, dtype)


CastLayer = _Cast


@dataclass(frozen=True)
class CastReport:
    layers: int  # layers that upcast per call
    converted: int  # other tensors converted once


def _own_tensors(module: nn.Module) -> list[Tensor]:
    return [t for t in [*module._parameters.values(), *module._buffers.values()] if t is not None]


def _differs(tensor: Tensor, dtype: torch.dtype) -> bool:
    return tensor.is_floating_point() and tensor.dtype != dtype


def _convert_own(module: nn.Module, dtype: torch.dtype) -> int:
    """Converts ``module``'s own floating tensors in another dtype to ``dtype``; how many."""
    count = 0
    for name, param in module._parameters.items():
        if param is not None and _differs(param, dtype):
            module._parameters[name] = nn.Parameter(param.detach().to(dtype),
                                                    requires_grad=param.requires_grad)
            count += 1
    for name, buffer in module._buffers.items():
        if buffer is not None and _differs(buffer, dtype):
            module._buffers[name] = buffer.to(dtype)
            count += 1
    return count


def _mark(module: nn.Module, dtype: torch.dtype, scratch: CastScratch) -> None:
    module.__dict__["compute_dtype"] = dtype  # plain attributes, not parameters or modules
    module.__dict__["cast_scratch"] = scratch


def cast_weights(module: nn.Module, dtype: torch.dtype = torch.float32) -> CastReport:
    """Makes ``module`` compute in ``dtype`` while its layers keep their stored dtypes (see the
    module docstring). Idempotent; the module's state-dict keys and tensors are unchanged except
    the few converted ones counted in the report."""
    if not dtype.is_floating_point:
        raise ValueError(f"dtype={dtype} must be a floating dtype")
    layers = converted = 0
    largest = 0
    scratch = getattr(module, "cast_scratch", None)
    if not isinstance(scratch, CastScratch):
        scratch = CastScratch()
    for sub in module.modules():
        own = _own_tensors(sub)
        cast_type = CAST_TYPES.get(type(sub)) or (type(sub) if isinstance(sub, _Cast) else None)
        if cast_type is not None and any(_differs(t, dtype) for t in own):
            sub.__class__ = cast_type
            _mark(sub, dtype, scratch)
            layers += 1
            largest = max(largest, sum(-(-t.numel() // _ALIGN) * _ALIGN for t in own))
        else:
            converted += _convert_own(sub, dtype)
    scratch.numel = max(scratch.numel, largest)
    _mark(module, dtype, scratch)
    return CastReport(layers, converted)


def compute_dtype_of(module: nn.Module) -> torch.dtype:
    """The dtype ``module`` computes in (what its inputs should be cast to)."""
    dtype = getattr(module, "compute_dtype", None)
    if isinstance(dtype, torch.dtype):
        return dtype
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.get_default_dtype()


__all__ = [
    "CAST_TYPES", "CastLayer", "CastReport", "CastScratch", "cast_weights", "compute_dtype_of",
    "compute_input", "computing_in", "register_cast_type",
]
