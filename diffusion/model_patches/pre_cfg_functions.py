"""Pre-CFG functions (ComfyUI's ``sampler_pre_cfg_function`` patches): Adaptive Projected
Guidance, Tangential Damping CFG and FreSca. Each returns the (cond, uncond) x0 predictions the
CFG combination then uses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance.hooks import ModelHooks, PreCFGArgs
from diffusion.guidance.run_state import RunState
from diffusion.model_patches.fourier import band_scale

_DIMS = [-1, -2, -3]


def project(v0: Tensor, v1: Tensor) -> tuple[Tensor, Tensor]:
    """(parallel, orthogonal) parts of v0 relative to v1, per sample over (C, H, W)."""
    v1 = torch.nn.functional.normalize(v1, dim=_DIMS)
    parallel = (v0 * v1).sum(dim=_DIMS, keepdim=True) * v1
    return parallel, v0 - parallel


def apg_guidance(guidance: Tensor, cond: Tensor, eta: float, norm_threshold: float) -> Tensor:
    """APG's guidance: its norm capped at ``norm_threshold`` (0: no cap), then its part
    parallel to the conditional prediction scaled by ``eta``."""
    if norm_threshold > 0:
        norm = guidance.norm(p=2, dim=_DIMS, keepdim=True)
        guidance = guidance * torch.minimum(torch.ones_like(norm), norm_threshold / norm)
    parallel, orthogonal = project(guidance, cond)
    return orthogonal + eta * parallel


class _Momentum:
    def __init__(self) -> None:
        self.average: Tensor | None = None
        self.last_sigma: float | None = None


@dataclass(frozen=True)
class APG:
    """Adaptive Projected Guidance (Sadat et al. 2024, arXiv:2410.02416), as ComfyUI's ``APG``:
    the CFG difference ``cond - uncond``, with momentum (a running ``momentum * average +
    difference``, reset when sigma rises), norm capping and a rescaled parallel part, replaces
    the conditional prediction so that CFG at ``scale`` yields ``uncond + scale * guidance +
    (cond - uncond)``. The running average is per run."""

    eta: float = 1.0
    norm_threshold: float = 5.0
    momentum: float = 0.0
    state: _Momentum | None = dataclasses.field(default=None, compare=False, repr=False)

    def bind_run(self, run: RunState) -> APG:
        return dataclasses.replace(self, state=_Momentum())

    def __call__(self, args: PreCFGArgs) -> tuple[Tensor, Tensor]:
        cond, uncond = args.cond_denoised, args.uncond_denoised
        guidance = cond - uncond
        if self.momentum != 0:
            guidance = self._averaged(guidance, float(args.sigma[0]))
        guidance = apg_guidance(guidance, cond, self.eta, self.norm_threshold)
        return (uncond + guidance) + (cond - uncond) / args.cond_scale, uncond

    def _averaged(self, guidance: Tensor, sigma: float) -> Tensor:
        state = self.state if self.state is not None else _Momentum()
        if state.last_sigma is not None and sigma > state.last_sigma:
            state.average = None
        state.last_sigma = sigma
        state.average = (guidance if state.average is None
                         else self.momentum * state.average + guidance)
        return state.average

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(pre_cfg=(self,))


def tangential_damping(cond_score: Tensor, uncond_score: Tensor) -> Tensor:
    """TCFG (Kwon et al. 2025, arXiv:2503.18137): the unconditional score projected onto the
    first right-singular vector of the per-sample 2 x D matrix [uncond; cond] (its tangential
    components dropped)."""
    batch = cond_score.shape[0]
    cond_flat = cond_score.reshape(batch, 1, -1).float()
    uncond_flat = uncond_score.reshape(batch, 1, -1).float()
    matrix = torch.cat((uncond_flat, cond_flat), dim=1)  # (B, 2, D)
    _, _, vh = torch.linalg.svd(matrix, full_matrices=False)
    v1 = vh[:, 0:1, :]  # (B, 1, D)
    damped = (uncond_flat @ v1.transpose(-2, -1)) * v1
    return damped.reshape_as(uncond_score).to(uncond_score.dtype)


@dataclass(frozen=True)
class TCFG:
    """Tangential Damping CFG on the noise predictions ``x - x0``; skipped when the negative
    side was not evaluated."""

    def __call__(self, args: PreCFGArgs) -> tuple[Tensor, Tensor]:
        if args.uncond_skipped:
            return args.cond_denoised, args.uncond_denoised
        x = args.x
        damped = tangential_damping(x - args.cond_denoised, x - args.uncond_denoised)
        return args.cond_denoised, x - damped

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(pre_cfg=(self,))


@dataclass(frozen=True)
class FreSca:
    """FreSca (Huang et al. 2025, arXiv:2504.02154): the CFG difference scaled by
    ``band_scale`` (low frequencies by ``scale_low``, high by ``scale_high``); skipped when the
    negative side was not evaluated."""

    scale_low: float = 1.0
    scale_high: float = 1.25
    freq_cutoff: int = 20

    def __call__(self, args: PreCFGArgs) -> tuple[Tensor, Tensor]:
        if args.uncond_skipped:
            return args.cond_denoised, args.uncond_denoised
        uncond = args.uncond_denoised
        guidance = band_scale(args.cond_denoised - uncond, self.scale_low, self.scale_high,
                              self.freq_cutoff)
        return guidance + uncond, uncond

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(pre_cfg=(self,))


__all__ = ["APG", "FreSca", "TCFG", "apg_guidance", "project", "tangential_damping"]
