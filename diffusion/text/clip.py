"""CLIP text encoders: OpenAI CLIP ViT-L/14 (transformers-4.x keys), OpenCLIP ViT-H/14 and bigG/14.

Both layouts share the math (pre-norm causal transformer) and differ only in parameter names:

* ``CLIPTextModel`` — keys as in real SD1.x/SDXL files under ``cond_stage_model.transformer.`` /
  ``conditioner.embedders.0.transformer.``: ``text_model.encoder.layers.N.self_attn.q_proj...``.
* ``OpenCLIPTextModel`` — keys as under ``cond_stage_model.model.`` (SD2.x) /
  ``conditioner.embedders.1.model.`` (SDXL): ``transformer.resblocks.N.attn.in_proj_weight`` (fused
  q, k, v), ``positional_embedding``, ``ln_final``, ``text_projection`` (width x projection).

``forward(ids, layer=-1, final_norm=True)`` returns the hidden states of ``layer`` (negative, from
the end: -1 last, -2 penultimate = "clip skip 2") and the pooled output taken at the first
end-of-text token of the last layer (projected when the model has a projection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.weight_cast import CastLayer, compute_input, register_cast_type

Activation = Literal["quick_gelu", "gelu"]


@dataclass(frozen=True)
class TextEncoderConfig:
    vocab_size: int = 49408
    width: int = 768
    layers: int = 12
    heads: int = 12
    max_positions: int = 77
    mlp_ratio: int = 4
    activation: Activation = "quick_gelu"
    eps: float = 1e-5
    projection_dim: int | None = None
    eos_token_id: int = 49407


CLIP_L = TextEncoderConfig()
OPEN_CLIP_H = TextEncoderConfig(
    width=1024, layers=24, heads=16, activation="gelu", projection_dim=1024
)
OPEN_CLIP_BIGG = TextEncoderConfig(
    width=1280, layers=32, heads=20, activation="gelu", projection_dim=1280
)


@dataclass(frozen=True)
class TextEncoding:
    hidden: Tensor  # (B, T, width) at the requested layer
    pooled: Tensor  # (B, width) or (B, projection_dim)


def _activate(x: Tensor, activation: Activation) -> Tensor:
    if activation == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    return F.gelu(x)


def _causal_attention(q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
    b, t, width = q.shape
    q, k, v = (
        x.reshape(b, t, heads, width // heads).transpose(1, 2) for x in (q, k, v)
    )  # (B, h, T, d)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, h, T, d)
    return out.transpose(1, 2).reshape(b, t, width)  # (B, T, width)


def _check_layer(layer: int, layers: int) -> int:
    """Index into the per-layer outputs for a negative ``layer``."""
    if not -layers <= layer <= -1:
        raise ValueError(f"layer={layer} must be between -{layers} and -1")
    return layers + layer


def _eos_positions(ids: Tensor, eos_token_id: int) -> Tensor:
    """Position of the first end-of-text token in each row; the last position when there is none."""
    is_eos = ids == eos_token_id
    first = is_eos.int().argmax(dim=-1)
    return torch.where(is_eos.any(dim=-1), first, torch.full_like(first, ids.shape[-1] - 1))


# --- transformers (OpenAI CLIP-L) layout -------------------------------------------------------


class _HFAttention(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.k_proj = nn.Linear(cfg.width, cfg.width)
        self.v_proj = nn.Linear(cfg.width, cfg.width)
        self.q_proj = nn.Linear(cfg.width, cfg.width)
        self.out_proj = nn.Linear(cfg.width, cfg.width)

    def forward(self, x: Tensor) -> Tensor:
        return self.out_proj(
            _causal_attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads)
        )


class _HFMLP(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.activation = cfg.activation
        self.fc1 = nn.Linear(cfg.width, cfg.width * cfg.mlp_ratio)
        self.fc2 = nn.Linear(cfg.width * cfg.mlp_ratio, cfg.width)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(_activate(self.fc1(x), self.activation))


class _HFLayer(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.self_attn = _HFAttention(cfg)
        self.layer_norm1 = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.mlp = _HFMLP(cfg)
        self.layer_norm2 = nn.LayerNorm(cfg.width, eps=cfg.eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _HFEmbeddings(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.position_embedding = nn.Embedding(cfg.max_positions, cfg.width)

    def forward(self, ids: Tensor) -> Tensor:
        return (
            self.token_embedding(ids) + self.position_embedding.weight[: ids.shape[-1]]
        )  # (B, T, width)


class _HFEncoder(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_HFLayer(cfg) for _ in range(cfg.layers))


class _HFTextTransformer(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.embeddings = _HFEmbeddings(cfg)
        self.encoder = _HFEncoder(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg.width, eps=cfg.eps)


class CLIPTextModel(nn.Module):
    """OpenAI CLIP text encoder with transformers-4.x parameter names (``text_model.*``)."""

    def __init__(self, config: TextEncoderConfig = CLIP_L) -> None:
        super().__init__()
        self.config = config
        self.text_model = _HFTextTransformer(config)

    def forward(self, ids: Tensor, *, layer: int = -1, final_norm: bool = True) -> TextEncoding:
        tm = self.text_model
        stop = _check_layer(layer, self.config.layers)
        x = tm.embeddings(ids)
        hidden = x
        for i, block in enumerate(tm.encoder.layers):
            x = block(x)
            if i == stop:
                hidden = x
        last = tm.final_layer_norm(x)
        pooled = last[
            torch.arange(ids.shape[0], device=ids.device),
            _eos_positions(ids, self.config.eos_token_id),
        ]
        return TextEncoding(tm.final_layer_norm(hidden) if final_norm else hidden, pooled)


# --- OpenCLIP layout --------------------------------------------------------------------------


class _FusedAttention(nn.Module):
    """``nn.MultiheadAttention`` parameter names (fused ``in_proj``), causal, through SDPA."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * cfg.width, cfg.width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * cfg.width))
        self.out_proj = nn.Linear(cfg.width, cfg.width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(
            3, dim=-1
        )  # 3 x (B, T, width)
        return self.out_proj(_causal_attention(q, k, v, self.heads))


class _CastFusedAttention(_FusedAttention, CastLayer):
    """Keeps a half-precision ``in_proj`` as stored and upcasts it per call
    (``diffusion.weight_cast``), like the other layers of a model keeping half weights."""

    def forward(self, x: Tensor) -> Tensor:
        dtype = self.active_dtype
        with self.cast_scratch.cast((self.in_proj_weight, self.in_proj_bias), dtype) as (w, b):
            assert w is not None
            qkv = F.linear(compute_input(x, dtype), w, b)  # (B, T, 3 * width)
        q, k, v = qkv.chunk(3, dim=-1)
        return self.out_proj(_causal_attention(q, k, v, self.heads))


register_cast_type(_FusedAttention, _CastFusedAttention)


class _OpenCLIPMLP(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.activation = cfg.activation
        self.c_fc = nn.Linear(cfg.width, cfg.width * cfg.mlp_ratio)
        self.c_proj = nn.Linear(cfg.width * cfg.mlp_ratio, cfg.width)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(_activate(self.c_fc(x), self.activation))


class _ResidualBlock(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.attn = _FusedAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.mlp = _OpenCLIPMLP(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _Transformer(nn.Module):
    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(_ResidualBlock(cfg) for _ in range(cfg.layers))


class OpenCLIPTextModel(nn.Module):
    """OpenCLIP text tower (ViT-H/14 for SD2.x, ViT-bigG/14 for SDXL), OpenCLIP parameter names."""

    def __init__(self, config: TextEncoderConfig = OPEN_CLIP_H) -> None:
        super().__init__()
        self.config = config
        proj = config.projection_dim or config.width
        self.token_embedding = nn.Embedding(config.vocab_size, config.width)
        self.positional_embedding = nn.Parameter(torch.empty(config.max_positions, config.width))
        self.transformer = _Transformer(config)
        self.ln_final = nn.LayerNorm(config.width, eps=config.eps)
        self.text_projection = nn.Parameter(torch.empty(config.width, proj))
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))  # log(100); unused for text encoding
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=config.width**-0.5)

    def forward(self, ids: Tensor, *, layer: int = -1, final_norm: bool = True) -> TextEncoding:
        stop = _check_layer(layer, self.config.layers)
        x = self.token_embedding(ids) + self.positional_embedding[: ids.shape[-1]]  # (B, T, width)
        hidden = x
        for i, block in enumerate(self.transformer.resblocks):
            x = block(x)
            if i == stop:
                hidden = x
        last = self.ln_final(x)
        eos = last[
            torch.arange(ids.shape[0], device=ids.device),
            _eos_positions(ids, self.config.eos_token_id),
        ]
        pooled = eos @ self.text_projection  # (B, projection_dim)
        return TextEncoding(self.ln_final(hidden) if final_norm else hidden, pooled)


def sdxl_context(clip_l_hidden: Tensor, clip_g_hidden: Tensor) -> Tensor:
    """SDXL cross-attention context: CLIP-L (B, T, 768) then bigG (B, T, 1280) -> (B, T, 2048)."""
    if clip_l_hidden.shape[:2] != clip_g_hidden.shape[:2]:
        raise ValueError(
            f"clip_l_hidden {tuple(clip_l_hidden.shape)} and "
            f"clip_g_hidden {tuple(clip_g_hidden.shape)} "
            "must share batch and token dimensions"
        )
    return torch.cat([clip_l_hidden, clip_g_hidden], dim=-1)  # (B, T, 768 + 1280)
