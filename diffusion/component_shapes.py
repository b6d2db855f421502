"""A component's parameter names and shapes without reading its weights.

Merging decides which keys two models share (same name, same shape) before anything is loaded:
openers that can build a component on the meta device (``empty(name)``: ``OpenedCheckpoint``,
the standalone component files) answer from that; any other opener is asked by making the
component resident once (logged, since it reads weights).
"""

from __future__ import annotations

import logging

from torch import nn

from diffusion.memory import ModelHandle

logger = logging.getLogger(__name__)

Shapes = dict[str, tuple[int, ...]]


def _shapes(module: nn.Module) -> Shapes:
    return {key: tuple(param.shape) for key, param in module.named_parameters()}


def parameter_shapes(handle: ModelHandle) -> Shapes:
    """``{parameter key: shape}`` of ``handle``'s component (the module's own keys)."""
    empty = getattr(handle.opened, "empty", None)
    if callable(empty):
        module = empty(handle.component)
        if isinstance(module, nn.Module):
            return _shapes(module)
    logger.info("%s of %s: opener cannot build it empty; reading it for its shapes",
                handle.component, handle.key.path)
    with handle.use() as module:
        return _shapes(module)


__all__ = ["Shapes", "parameter_shapes"]
