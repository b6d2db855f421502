"""Perturbed-Attention Guidance (Ahn et al. 2024, "Self-Rectifying Diffusion Sampling with
Perturbed-Attention Guidance", arXiv:2403.17377), as ComfyUI's ``PerturbedAttentionGuidance``:
after CFG the conditional side is evaluated again with every self-attention of the middle block
replaced by the identity (each token's output is its own value), and the result moves by
``scale * (cond - that prediction)``. Scale 0 does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from diffusion.guidance.hooks import ModelHooks, PostCFGArgs
from diffusion.unet.attention import Attend, AttentionInfo, BlockId

MIDDLE: BlockId = ("middle", 0)


@dataclass(frozen=True)
class PerturbedSelfAttention:
    """The attention processor: identity self-attention (the values) in ``block``."""

    block: BlockId = MIDDLE

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo,
                 attend: Attend) -> Tensor:
        if info.kind == "self" and info.block == self.block:
            return v  # (B, N, inner)
        return attend(q, k, v)


@dataclass(frozen=True)
class PerturbedAttentionGuidance:
    """The post-CFG function."""

    scale: float = 3.0
    perturbed: PerturbedSelfAttention = PerturbedSelfAttention()

    def __call__(self, args: PostCFGArgs) -> Tensor:
        if self.scale == 0:
            return args.denoised
        if args.model is None:
            raise ValueError("PerturbedAttentionGuidance: the guider offers no model calls")
        perturbed = args.model.cond(args.x, args.sigma, attention=(self.perturbed,))
        return args.denoised + (args.cond_denoised - perturbed) * self.scale

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(post_cfg=(self,))


__all__ = ["PerturbedAttentionGuidance", "PerturbedSelfAttention"]
