"""GLIGEN's text-box grounding modules (Li et al. 2023), parameter names as in its checkpoints.

A GLIGEN file holds, for every transformer block of the UNet it was trained with, a gated
self-attention "fuser" (``input_blocks.1.1.transformer_blocks.0.fuser.*`` …) and one
``position_net``. The position net turns up to 30 (phrase embedding, box) pairs into grounding
tokens: the box corners (x1, y1, x2, y2, fractions of the latent) through 8 Fourier frequencies,
concatenated to the phrase's pooled CLIP embedding, through an MLP; padding slots get the learned
null features. Each fuser appends the (projected) grounding tokens to the block's visual tokens,
self-attends over both and adds the visual part back, gated by ``tanh(alpha_attn)``, then a
feed-forward gated by ``tanh(alpha_dense)``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from diffusion.unet.attention import BlockId
from diffusion.unet.blocks import CrossAttention, FeedForward

MAX_OBJECTS = 30  # grounding token slots (ComfyUI's and GLIGEN's max_objs)
FOURIER_FREQS = 8
FOURIER_TEMPERATURE = 100.0
POSITION_HIDDEN = 512
SD1_KEY_DIM = 768  # CLIP-L: the fusers of SD1.x GLIGEN models use 8 heads


class GatedSelfAttentionDense(nn.Module):
    """One fuser: x (B, N, C) and grounding tokens (B, M, key_dim) -> (B, N, C)."""

    def __init__(self, query_dim: int, key_dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.linear = nn.Linear(key_dim, query_dim)
        self.attn = CrossAttention(query_dim, query_dim, heads, dim_head)
        self.ff = FeedForward(query_dim)
        self.norm1 = nn.LayerNorm(query_dim)
        self.norm2 = nn.LayerNorm(query_dim)
        self.alpha_attn = nn.Parameter(torch.zeros(()))
        self.alpha_dense = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, objs: Tensor) -> Tensor:
        n_visual = x.shape[1]
        objs = self.linear(objs)  # (B, M, C)
        both = self.norm1(torch.cat([x, objs], dim=1))  # (B, N + M, C)
        x = x + torch.tanh(self.alpha_attn) * self.attn(both)[:, :n_visual]
        return x + torch.tanh(self.alpha_dense) * self.ff(self.norm2(x))


def fourier_features(boxes: Tensor, freqs: int = FOURIER_FREQS) -> Tensor:
    """(B, N, 4) box corners -> (B, N, freqs * 8): per frequency sin of the 4 values, then cos."""
    bands = FOURIER_TEMPERATURE ** (torch.arange(freqs, device=boxes.device) / freqs)
    angles = bands.to(boxes.dtype)[:, None, None, None] * boxes  # (F, B, N, 4)
    parts = torch.stack([angles.sin(), angles.cos()], dim=1)  # (F, 2, B, N, 4)
    return parts.permute(2, 3, 0, 1, 4).reshape(*boxes.shape[:2], -1)  # (B, N, F * 8)


class PositionNet(nn.Module):
    """Grounding tokens from boxes (B, N, 4), their mask (B, N) and phrase embeddings
    (B, N, in_dim) -> (B, N, out_dim)."""

    def __init__(self, in_dim: int, out_dim: int, freqs: int = FOURIER_FREQS) -> None:
        super().__init__()
        self.freqs = freqs
        position_dim = freqs * 2 * 4  # sin and cos of x1, y1, x2, y2
        self.linears = nn.Sequential(
            nn.Linear(in_dim + position_dim, POSITION_HIDDEN), nn.SiLU(),
            nn.Linear(POSITION_HIDDEN, POSITION_HIDDEN), nn.SiLU(),
            nn.Linear(POSITION_HIDDEN, out_dim),
        )
        self.null_positive_feature = nn.Parameter(torch.zeros(in_dim))
        self.null_position_feature = nn.Parameter(torch.zeros(position_dim))

    def forward(self, boxes: Tensor, masks: Tensor, embeddings: Tensor) -> Tensor:
        masks = masks.unsqueeze(-1).to(boxes.dtype)  # (B, N, 1)
        position = fourier_features(boxes, self.freqs)  # (B, N, 64)
        null_text = self.null_positive_feature.to(boxes)[None, None]  # (1, 1, in_dim)
        null_box = self.null_position_feature.to(boxes)[None, None]  # (1, 1, 64)
        embeddings = embeddings * masks + (1 - masks) * null_text
        position = position * masks + (1 - masks) * null_box
        return self.linears(torch.cat([embeddings, position], dim=-1))  # (B, N, out_dim)


class _Fused(nn.Module):
    def __init__(self, fuser: GatedSelfAttentionDense) -> None:
        super().__init__()
        self.fuser = fuser


class _Transformer(nn.Module):
    def __init__(self, fusers: list[GatedSelfAttentionDense]) -> None:
        super().__init__()
        self.transformer_blocks = nn.ModuleList(_Fused(f) for f in fusers)


@dataclass(frozen=True)
class FuserSpec:
    """Where a GLIGEN file has a transformer's fusers and their widths."""

    block: BlockId  # the UNet block holding the transformer (ComfyUI's id)
    depth: int  # fusers, one per transformer block
    query_dim: int  # the UNet's width there
    key_dim: int  # the grounding tokens' width (the position net's output)

    @property
    def path(self) -> str:
        """The block's key prefix: ``input_blocks.1.1`` / ``middle_block.1``."""
        kind, index = self.block
        return "middle_block.1" if kind == "middle" else f"{kind}_blocks.{index}.1"

    def heads(self) -> tuple[int, int]:
        """(heads, head width) as ComfyUI's ``load_gligen``: 8 heads with CLIP-L grounding,
        else 64-wide heads."""
        if self.key_dim == SD1_KEY_DIM:
            return 8, self.query_dim // 8
        return self.query_dim // 64, 64


@dataclass(frozen=True)
class GligenConfig:
    fusers: tuple[FuserSpec, ...]
    position_in_dim: int  # the phrase embedding's width (CLIP-L's pooled output: 768)
    position_out_dim: int


class GligenModel(nn.Module):
    """The fusers under their UNet block paths, and the position net."""

    def __init__(self, config: GligenConfig) -> None:
        super().__init__()
        self.config = config
        self.input_blocks = nn.ModuleDict()
        self.middle_block = nn.ModuleDict()
        self.output_blocks = nn.ModuleDict()
        self._fusers: dict[tuple[BlockId, int], GatedSelfAttentionDense] = {}
        for spec in config.fusers:
            heads, dim_head = spec.heads()
            fusers = [GatedSelfAttentionDense(spec.query_dim, spec.key_dim, heads, dim_head)
                      for _ in range(spec.depth)]
            self._holder(spec.block)["1"] = _Transformer(fusers)
            self._fusers.update({(spec.block, i): f for i, f in enumerate(fusers)})
        self.position_net = PositionNet(config.position_in_dim, config.position_out_dim)
        self._placed: dict[tuple[str, torch.dtype], GligenModel] = {}
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes of weights held, device copies included (the output cache counts them: the
        weights live in the payload, not behind a model-manager handle)."""
        models = [self, *self._placed.values()]
        return sum(p.numel() * p.element_size() for m in models for p in m.parameters())

    def placed(self, device: torch.device, dtype: torch.dtype) -> GligenModel:
        """This model on ``device`` in ``dtype``: itself when it is there already, else a copy
        made once per (device, dtype) and kept (the loaded model itself is never moved)."""
        here = next(self.parameters())
        if here.device == device and here.dtype == dtype:
            return self
        key = (str(device), dtype)
        with self._lock:
            if key not in self._placed:
                with torch.device("meta"):
                    copy = GligenModel(self.config)
                state = {k: v.to(device, dtype) for k, v in self.state_dict().items()}
                copy.load_state_dict(state, strict=True, assign=True)
                self._placed[key] = copy.eval().requires_grad_(False)
            return self._placed[key]

    def _holder(self, block: BlockId) -> nn.ModuleDict:
        kind, index = block
        if kind == "middle":
            return self.middle_block
        parent = self.input_blocks if kind == "input" else self.output_blocks
        if str(index) not in parent:
            parent[str(index)] = nn.ModuleDict()
        holder = parent[str(index)]
        assert isinstance(holder, nn.ModuleDict)
        return holder

    def fuser(self, block: BlockId, transformer_index: int) -> GatedSelfAttentionDense | None:
        """The fuser of transformer block ``transformer_index`` in UNet block ``block``."""
        return self._fusers.get((block, transformer_index))
