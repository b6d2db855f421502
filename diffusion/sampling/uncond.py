"""The channel through which CFG++ samplers see the unconditional prediction.

CFG++ (Chung et al. 2024, arXiv:2406.08070) steps along the *unconditional* noise direction and
renoises from the guided x0, so a sampler needs, after each model call, the unconditional x0
prediction that call computed. A sampler spec declares ``needs_uncond``; the sampling run then
creates one :class:`UncondTap` per run, asks the guider for a denoiser that records into it, and
hands the same tap to the sampler. Nothing is global and nothing travels in ``extra_args``.
"""

from __future__ import annotations

from torch import Tensor


class UncondTap:
    """The unconditional x0 prediction (B, C, H, W) of the latest guided model call of one run."""

    __slots__ = ("_latest",)

    def __init__(self) -> None:
        self._latest: Tensor | None = None

    def record(self, uncond: Tensor) -> None:
        """Called by the guider once per model call, with the prediction its post-CFG functions
        see as ``uncond_denoised``."""
        self._latest = uncond

    def latest(self, sampler_name: str) -> Tensor:
        if self._latest is None:
            raise RuntimeError(
                f"sampler {sampler_name!r} asked for the unconditional prediction before the "
                "guided model recorded one"
            )
        return self._latest


def require_uncond(uncond: UncondTap | None, sampler_name: str) -> UncondTap:
    """CFG++ samplers never guess the unconditional prediction: the caller passes the tap."""
    if uncond is None:
        raise ValueError(
            f"sampler {sampler_name!r} (CFG++) needs the unconditional prediction: pass "
            "uncond=UncondTap() recorded by the guider (diffusion.guidance.sample does this)"
        )
    return uncond
