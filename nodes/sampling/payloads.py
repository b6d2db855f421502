"""Payloads of the SAMPLER, NOISE and GUIDER sockets (SIGMAS is a 1-d float Tensor).

Small frozen values, never mutated: a SAMPLER is a ``diffusion.sampling.SamplerSpec`` (the
function with its options), a NOISE a ``diffusion.sampling.SeededNoise``, a GUIDER a
``nodes.payloads.GuiderPayload`` such as :class:`CfgGuide`.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusion.guidance import CFGGuider, Cond, GuidedModel
from diffusion.sampling import SamplerSpec, SeededNoise
from nodes.payloads import DiffusionModel

__all__ = ["CfgGuide", "SamplerSpec", "SeededNoise"]


@dataclass(frozen=True, eq=False)
class CfgGuide:
    """A GUIDER: classifier-free guidance of ``model`` between positive and negative."""

    model: DiffusionModel
    positive: tuple[Cond, ...]
    negative: tuple[Cond, ...]
    cfg: float

    nbytes = 0

    def bind(self, model: GuidedModel) -> CFGGuider:
        return CFGGuider(model, self.positive, self.negative, self.cfg)

    def summary(self) -> str:
        return (f"CFGGuider(cfg {self.cfg:g}, {len(self.positive)} positive, "
                f"{len(self.negative)} negative)")
