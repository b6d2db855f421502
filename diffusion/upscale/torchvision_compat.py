"""A stand-in for the three torchvision names spandrel imports, used only when torchvision is
unusable.

spandrel imports every architecture at import time, and two of them import torchvision
functions: LaMa (``InterpolationMode``, ``rotate``; an inpainting model, which
:mod:`diffusion.upscale.loading` refuses anyway) and RestoreFormer (``normalize``; a face model,
also refused). Where torchvision is absent, or installed for another torch build (PyPI's
torchvision beside a local torch fails with "operator torchvision::nms does not exist"),
:func:`import_spandrel` imports spandrel with this stand-in registered under
``torchvision.transforms.functional`` for the duration of that import only, so no other library
ever sees a fake torchvision; a working torchvision is never shadowed.

``normalize`` is exact (torchvision's arithmetic); ``rotate`` and ``InterpolationMode`` raise an
error naming LaMa if anything ever uses them.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any

import torch

logger = logging.getLogger(__name__)

STAND_IN_MODULES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


class TorchvisionUnavailableError(RuntimeError):
    """A torchvision function the stand-in does not provide was used."""


def normalize(tensor: torch.Tensor, mean: Sequence[float], std: Sequence[float],
              inplace: bool = False) -> torch.Tensor:
    """(x - mean) / std per channel of a (..., C, H, W) float tensor, as torchvision does."""
    if not tensor.is_floating_point():
        raise TypeError(f"normalize: expected a float tensor, got {tensor.dtype}")
    if tensor.dim() < 3:
        raise ValueError(f"normalize: expected (..., C, H, W), got {tuple(tensor.shape)}")
    mean_t = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device)
    std_t = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device)
    if (std_t == 0).any():
        raise ValueError(f"normalize: std {list(std)} has a zero, which would divide by zero")
    if mean_t.dim() == 1:
        mean_t = mean_t.view(-1, 1, 1)  # (C, 1, 1)
    if std_t.dim() == 1:
        std_t = std_t.view(-1, 1, 1)  # (C, 1, 1)
    if inplace:
        return tensor.sub_(mean_t).div_(std_t)
    return (tensor - mean_t) / std_t


def _lama_only(name: str) -> TorchvisionUnavailableError:
    return TorchvisionUnavailableError(
        f"torchvision.transforms.functional.{name} is not available: torchvision cannot be "
        "imported here, and only spandrel's LaMa (inpainting) architecture uses it, which "
        "this engine does not run"
    )


def rotate(*args: Any, **kwargs: Any) -> Any:
    """Raises: only LaMa uses it."""
    raise _lama_only("rotate")


class _InterpolationModeType(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise _lama_only(f"InterpolationMode.{name}")


class InterpolationMode(metaclass=_InterpolationModeType):
    """Raises on any member access: only LaMa uses it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _lama_only("InterpolationMode")


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name, "latentgraph stand-in for torchvision (see "
                                    "diffusion.upscale.torchvision_compat)")
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def stand_in_modules() -> dict[str, types.ModuleType]:
    """The three stand-in modules by name (fresh objects on every call)."""
    functional = _module(STAND_IN_MODULES[2], normalize=normalize, rotate=rotate,
                         InterpolationMode=InterpolationMode)
    transforms = _module(STAND_IN_MODULES[1], functional=functional)
    root = _module(STAND_IN_MODULES[0], transforms=transforms)
    return dict(zip(STAND_IN_MODULES, (root, transforms, functional), strict=True))


def torchvision_usable() -> bool:
    """Whether ``torchvision.transforms.functional`` imports (a broken build raises
    RuntimeError or OSError, not only ImportError)."""
    try:
        importlib.import_module("torchvision.transforms.functional")
    except Exception as exc:  # a broken build raises RuntimeError, OSError …
        logger.info("torchvision is unusable here (%s: %s)", type(exc).__name__, exc)
        return False
    return True


@contextlib.contextmanager
def torchvision_stand_in() -> Iterator[dict[str, types.ModuleType]]:
    """Registers the stand-in modules in ``sys.modules`` inside the block, then removes exactly
    those it registered (entries another import put there meanwhile are left alone)."""
    added = stand_in_modules()
    saved = {name: sys.modules[name] for name in added if name in sys.modules}
    sys.modules.update(added)
    try:
        yield added
    finally:
        for name, module in added.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        sys.modules.update(saved)


def import_spandrel() -> types.ModuleType:
    """``spandrel``, imported once per process (``sys.modules`` keeps it), with the stand-in
    only when torchvision is unusable."""
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    if importlib.util.find_spec("spandrel") is None:
        raise ModuleNotFoundError(
            "spandrel is not installed; scripts/setup.sh installs spandrel==0.4.2 (--no-deps)"
        )
    if torchvision_usable():
        return importlib.import_module("spandrel")
    with torchvision_stand_in():
        logger.info("importing spandrel with the torchvision stand-in (LaMa and RestoreFormer "
                    "cannot run)")
        return importlib.import_module("spandrel")
