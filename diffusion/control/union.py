"""The parts xinsir's ControlNet-Union / ProMax adds to a ControlNet, as ComfyUI runs them.

A Union ControlNet knows several control types (``UNION_CONTROLNET_TYPES``). Every forward adds a
control-type embedding to the time embedding (``ControlAddEmbedding``: a one-hot over the types,
each entry's 256-d sinusoidal features, two linears); with a type set, the hint features are
fused with the type: their spatial mean plus the type's ``task_embedding`` row goes through one
transformer block (``UnionAttentionBlock``), is projected (``spatial_ch_projs``) and added back
to every pixel of the hint features. ComfyUI uses only the first type given, so the block sees a
single token. Parameter names are those of the released files.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.unet.blocks import timestep_embedding

UNION_CONTROLNET_TYPES: dict[str, int] = {
    "openpose": 0,
    "depth": 1,
    "hed/pidi/scribble/ted": 2,
    "canny/lineart/anime_lineart/mlsd": 3,
    "normal": 4,
    "segment": 5,
    "tile": 6,
    "repaint": 7,
}
TYPE_FEATURES = 256  # sinusoidal features per control type
FUSER_HEADS = 8


class QuickGELU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ControlAddEmbedding(nn.Module):
    """One-hot control types -> an addition to the time embedding."""

    def __init__(self, num_types: int, out_dim: int) -> None:
        super().__init__()
        self.num_types = num_types
        self.linear_1 = nn.Linear(TYPE_FEATURES * num_types, out_dim)
        self.linear_2 = nn.Linear(out_dim, out_dim)

    def forward(self, control_type: Sequence[int], dtype: torch.dtype) -> Tensor:
        device = self.linear_1.weight.device
        one_hot = torch.zeros(self.num_types, device=device)
        if control_type:
            one_hot[list(control_type)] = 1.0
        features = timestep_embedding(one_hot, TYPE_FEATURES).to(dtype)  # (n, 256)
        flat = features.reshape(1, self.num_types * TYPE_FEATURES)  # (1, n*256)
        return self.linear_2(F.silu(self.linear_1(flat)))  # (1, emb)


class UnionAttentionBlock(nn.Module):
    """Pre-norm self-attention and a QuickGELU MLP, each residual (``transformer_layes.N``)."""

    def __init__(self, width: int, heads: int = FUSER_HEADS) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(width * 4, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        h = self.ln_1(x)  # (B, N, width)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


def check_types(control_type: Sequence[int], num_types: int) -> None:
    """Every type index must be one the ControlNet was trained with."""
    names = {v: k for k, v in UNION_CONTROLNET_TYPES.items()}
    bad = [t for t in control_type if not 0 <= t < num_types]
    if bad:
        raise ValueError(f"control type {bad[0]} ({names.get(bad[0], 'unknown')!r}) is not one "
                         f"of this ControlNet-Union's {num_types} types")


def fuse_hint(features: Tensor, task_row: Tensor, blocks: nn.Module, proj: nn.Linear) -> Tensor:
    """The hint features (B, C, h, w) fused with one control type's ``task_embedding`` row."""
    token = features.mean(dim=(2, 3)) + task_row.to(features.dtype)  # (B, C)
    mixed = blocks(token.unsqueeze(1))  # (B, 1, C)
    alpha = proj(mixed[:, 0])  # (B, C)
    return features + alpha[:, :, None, None]  # (B, C, h, w)


__all__ = ["UNION_CONTROLNET_TYPES", "ControlAddEmbedding", "UnionAttentionBlock", "check_types",
           "fuse_hint"]
