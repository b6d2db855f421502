"""Helpers for the latent node tests: small latents and direct node calls."""

from __future__ import annotations

from typing import Any

import torch

from nodes.payloads import Latent
from tests.nodes.models.support import Ctx


def grid(b: int, c: int, h: int, w: int) -> torch.Tensor:
    """0, 1, 2, … laid out as (b, c, h, w): every value tells where it came from."""
    return torch.arange(float(b * c * h * w)).reshape(b, c, h, w)


def call(node: type, *args: Any, ctx: Any = None) -> Any:
    """The single output of ``node().run`` (its NodeResult when it has no outputs)."""
    result = node().run(ctx or Ctx(), *args)
    if isinstance(result, tuple):
        (out,) = result
        return out
    return result


def latent(samples: torch.Tensor, **fields: Any) -> Latent:
    return Latent(samples, **fields)
