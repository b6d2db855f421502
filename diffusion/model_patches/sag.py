"""Self-Attention Guidance (Hong et al. 2023, "Improving Sample Quality of Diffusion Models
Using Self-Attention Guidance", arXiv:2210.00939), as ComfyUI's ``SelfAttentionGuidance``.

1. In every forward that evaluates the unconditional side, the first self-attention of the
   middle block computes its attention explicitly and keeps the unconditional rows' softmaxed
   scores (B*heads, N, N) for this run.
2. After CFG: the pixels whose key receives more than 1 in total attention (averaged over
   heads) form a mask; the unconditional x0 is blurred (9x9 Gaussian, ``blur_sigma``) inside
   the mask, re-noised with the step's noise (``degraded + x - uncond``) and evaluated again on
   the unconditional side; the result moves by ``scale * (degraded - that prediction)``.

Steps on latents with a side of 4 or less are left alone (the blur needs padding). The
unconditional side is always evaluated, also at cfg 1. ``blur_sigma`` 0 does not blur (the
Gaussian's limit; ComfyUI divides by it and gets NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from diffusion.guidance.hooks import ModelHooks, PostCFGArgs
from diffusion.guidance.run_state import RunState
from diffusion.unet.attention import UNCOND, Attend, AttentionInfo

KERNEL_SIZE = 9
THRESHOLD = 1.0
MIN_SIDE = 4  # latents with a side this small are left alone


def attention_with_scores(q: Tensor, k: Tensor, v: Tensor, heads: int) -> tuple[Tensor, Tensor]:
    """Plain attention (B, N, inner) and its softmaxed scores (B*heads, N, M), rows ordered
    sample-major; half-precision inputs are scored in float32."""
    b, _, inner = q.shape
    d = inner // heads
    q, k, v = (t.reshape(b, -1, heads, d).transpose(1, 2).reshape(b * heads, -1, d)
               for t in (q, k, v))  # (B*heads, N|M, d)
    if q.dtype in (torch.float16, torch.bfloat16):
        scores = torch.bmm(q.float(), k.float().transpose(1, 2))
    else:
        scores = torch.bmm(q, k.transpose(1, 2))
    scores = (scores * d**-0.5).softmax(dim=-1)  # (B*heads, N, M)
    out = torch.bmm(scores.to(v.dtype), v)  # (B*heads, N, d)
    return out.reshape(b, heads, -1, d).transpose(1, 2).reshape(b, -1, inner), scores


def gaussian_blur(img: Tensor, kernel_size: int, sigma: float) -> Tensor:
    """Depthwise Gaussian blur of (B, C, H, W) with reflect padding; sigma 0: unchanged."""
    if sigma == 0:
        return img
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, steps=kernel_size)
    pdf = torch.exp(-0.5 * (x / sigma).pow(2))
    kernel = (pdf / pdf.sum()).to(device=img.device, dtype=img.dtype)
    kernel2d = torch.mm(kernel[:, None], kernel[None, :])  # (k, k)
    weight = kernel2d.expand(img.shape[-3], 1, kernel_size, kernel_size)
    pad = kernel_size // 2
    padded = F.pad(img, [pad, pad, pad, pad], mode="reflect")
    return F.conv2d(padded, weight, groups=img.shape[-3])


def mask_grid(total: int, height: int, width: int) -> tuple[int, int]:
    """The (rows, cols) grid of ``total`` attention tokens for a latent of height x width:
    rows the divisor of ``total`` nearest to ``sqrt(total * height / width)``."""
    guess = round(math.sqrt((height / width) * total))
    for i in range(math.floor(math.sqrt(total) / 2)):
        for rows in (guess + i, max(1, guess - i)):
            if total % rows == 0:
                return rows, total // rows
    raise ValueError(f"SelfAttentionGuidance: cannot lay {total} attention tokens out as a "
                     f"grid for a {height}x{width} latent")


def blur_map(x0: Tensor, scores: Tensor, sigma: float, threshold: float = THRESHOLD) -> Tensor:
    """x0 (B, C, H, W) blurred where the attention ``scores`` (B*heads, N, N) put more than
    ``threshold`` total attention (mean over heads) on a token, unchanged elsewhere."""
    _, queries, keys = scores.shape
    b, _, height, width = x0.shape
    attended = scores.reshape(b, -1, queries, keys).mean(1).sum(1) > threshold  # (B, N)
    rows, cols = mask_grid(attended.shape[-1], height, width)
    mask = attended.reshape(b, rows, cols).unsqueeze(1).to(scores.dtype)  # (B, 1, rows, cols)
    mask = F.interpolate(mask, (height, width))  # (B, 1, H, W), nearest
    blurred = gaussian_blur(x0, KERNEL_SIZE, sigma)
    return blurred * mask + x0 * (1 - mask)


class _Scores:
    """The run's latest unconditional attention scores."""

    def __init__(self) -> None:
        self.latest: Tensor | None = None


@dataclass(frozen=True, eq=False)
class _Recorder:
    owner: SelfAttentionGuidance
    scores: _Scores | None = None

    def bind_run(self, run: RunState) -> _Recorder:
        return _Recorder(self.owner, run.slot(self.owner, _Scores))

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo,
                 attend: Attend) -> Tensor:
        at = (info.kind, info.block, info.transformer_index) == ("self", ("middle", 0), 0)
        if not at or UNCOND not in info.cond_or_uncond:
            return attend(q, k, v)
        if self.scores is None:
            raise ValueError("SelfAttentionGuidance used outside a sampling run (unbound hooks)")
        out, scores = attention_with_scores(q, k, v, info.heads)
        rows = info.heads * (q.shape[0] // len(info.cond_or_uncond))
        index = info.cond_or_uncond.index(UNCOND)
        self.scores.latest = scores[rows * index:rows * (index + 1)]
        return out


@dataclass(frozen=True, eq=False)
class _Guidance:
    owner: SelfAttentionGuidance
    scores: _Scores | None = None

    def bind_run(self, run: RunState) -> _Guidance:
        return _Guidance(self.owner, run.slot(self.owner, _Scores))

    def __call__(self, args: PostCFGArgs) -> Tensor:
        if min(args.denoised.shape[2:]) <= MIN_SIDE:
            return args.denoised
        if self.scores is None or self.scores.latest is None or args.model is None:
            raise ValueError("SelfAttentionGuidance: no attention map of the unconditional side "
                             "was recorded, or the guider offers no model calls")
        uncond = args.uncond_denoised
        degraded = blur_map(uncond, self.scores.latest, self.owner.blur_sigma)
        again = args.model.uncond(degraded + args.x - uncond, args.sigma)
        return args.denoised + (degraded - again) * self.owner.scale


@dataclass(frozen=True, eq=False)
class SelfAttentionGuidance:
    """The patch: a recording attention processor and a post-CFG function sharing a run slot."""

    scale: float = 0.5
    blur_sigma: float = 2.0

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(attention=(_Recorder(self),), post_cfg=(_Guidance(self),),
                          needs_uncond=True)


__all__ = ["SelfAttentionGuidance", "attention_with_scores", "blur_map", "gaussian_blur",
           "mask_grid"]
