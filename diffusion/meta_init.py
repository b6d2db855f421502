"""Building modules on the meta device without running their random initialisation.

Loading builds every model on ``torch.device("meta")`` and then assigns the file's tensors, so
the layers' ``reset_parameters`` are wasted work there: about 10,000 calls for an SDXL
checkpoint (~0.8 s), and ``normal_`` on a meta tensor goes through torch's Python references,
whose first call imports ``torch._dynamo`` (~1.3 s, once per process). Inside
``meta_init_skipped()`` every ``torch.nn.init`` function returns a meta tensor untouched —
initialising a tensor that holds no data changes nothing, so the patch is exact for every
thread — and runs as before on real tensors.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_",
)
_lock = threading.Lock()
_depth = 0
_originals: dict[str, Callable[..., Any]] = {}


def _skipping_meta(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def init(tensor: Tensor, *args: Any, **kwargs: Any) -> Any:
        return tensor if tensor.is_meta else fn(tensor, *args, **kwargs)

    return init


@contextmanager
def meta_init_skipped() -> Iterator[None]:
    """``torch.nn.init`` leaves meta tensors alone inside the block (re-entrant, any thread)."""
    global _depth
    with _lock:
        if _depth == 0:
            for name in INIT_FUNCTIONS:
                original = getattr(torch.nn.init, name, None)
                if original is not None:
                    _originals[name] = original
                    setattr(torch.nn.init, name, _skipping_meta(original))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for name, original in _originals.items():
                    setattr(torch.nn.init, name, original)
                _originals.clear()


__all__ = ["INIT_FUNCTIONS", "meta_init_skipped"]
