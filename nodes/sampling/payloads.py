"""Payloads of the SAMPLER, NOISE and GUIDER sockets (SIGMAS is a 1-d float Tensor).

Small frozen values, never mutated: a SAMPLER is a ``diffusion.sampling.SamplerSpec`` (the
function with its options), a NOISE a ``diffusion.sampling.SeededNoise``, a GUIDER a
``nodes.payloads.GuiderPayload`` such as :class:`CfgGuide`.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusion.guidance import (
    BasicGuider,
    CFGGuider,
    Cond,
    DualCFGGuider,
    GuidedModel,
    PerpNegGuider,
)
from diffusion.sampling import SamplerSpec, SeededNoise
from nodes.payloads import DiffusionModel

__all__ = ["BasicGuide", "CfgGuide", "DualCfgGuide", "PerpNegGuide", "SamplerSpec",
           "SeededNoise"]


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


@dataclass(frozen=True, eq=False)
class BasicGuide:
    """A GUIDER: the model's prediction for one conditioning (no CFG)."""

    model: DiffusionModel
    conditioning: tuple[Cond, ...]

    nbytes = 0

    def bind(self, model: GuidedModel) -> BasicGuider:
        return BasicGuider(model, self.conditioning)

    def summary(self) -> str:
        return f"BasicGuider({len(self.conditioning)} conditioning)"


@dataclass(frozen=True, eq=False)
class DualCfgGuide:
    """A GUIDER: dual CFG of cond1 and cond2 against negative (``style`` regular or nested)."""

    model: DiffusionModel
    cond1: tuple[Cond, ...]
    cond2: tuple[Cond, ...]
    negative: tuple[Cond, ...]
    cfg_conds: float
    cfg_cond2_negative: float
    nested: bool = False

    nbytes = 0

    def bind(self, model: GuidedModel) -> DualCFGGuider:
        return DualCFGGuider(model, self.cond1, self.cond2, self.negative, self.cfg_conds,
                             self.cfg_cond2_negative, self.nested)

    def summary(self) -> str:
        style = "nested" if self.nested else "regular"
        return (f"DualCFGGuider({style}, cfg_conds {self.cfg_conds:g}, "
                f"cfg_cond2_negative {self.cfg_cond2_negative:g})")


@dataclass(frozen=True, eq=False)
class PerpNegGuide:
    """A GUIDER: Perp-Neg guidance of positive against negative, relative to an empty prompt."""

    model: DiffusionModel
    positive: tuple[Cond, ...]
    negative: tuple[Cond, ...]
    empty: tuple[Cond, ...]
    cfg: float
    neg_scale: float

    nbytes = 0

    def bind(self, model: GuidedModel) -> PerpNegGuider:
        return PerpNegGuider(model, self.positive, self.negative, self.empty, self.cfg,
                             self.neg_scale)

    def summary(self) -> str:
        return f"PerpNegGuider(cfg {self.cfg:g}, neg_scale {self.neg_scale:g})"
