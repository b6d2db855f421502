"""The CLIP vision tower with transformers' ``CLIPVisionModelWithProjection`` parameter names.

``forward(pixel_values)`` returns what ComfyUI's CLIP_VISION_OUTPUT carries: the last hidden
states (before the final LayerNorm, as transformers' ``last_hidden_state``), the hidden states
of the penultimate layer (ComfyUI's ``intermediate_output=-2``; transformers'
``hidden_states[-2]``) and the projected image embedding (``post_layernorm`` of the class token,
then ``visual_projection``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.vision.config import VIT_L_14, Activation, VisionConfig


@dataclass(frozen=True, eq=False)
class VisionEncoding:
    last_hidden_state: Tensor  # (B, P, width), P = patches + 1
    penultimate_hidden_states: Tensor  # (B, P, width)
    image_embeds: Tensor  # (B, projection_dim)


def activate(x: Tensor, activation: Activation) -> Tensor:
    if activation == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    return F.gelu(x)


class _Attention(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.k_proj = nn.Linear(cfg.width, cfg.width)
        self.v_proj = nn.Linear(cfg.width, cfg.width)
        self.q_proj = nn.Linear(cfg.width, cfg.width)
        self.out_proj = nn.Linear(cfg.width, cfg.width)

    def forward(self, x: Tensor) -> Tensor:
        b, t, width = x.shape
        q, k, v = (
            proj(x).reshape(b, t, self.heads, width // self.heads).transpose(1, 2)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )  # (B, h, T, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, h, T, d)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, width))  # (B, T, width)


class _MLP(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.activation = cfg.activation
        self.fc1 = nn.Linear(cfg.width, cfg.mlp_width)
        self.fc2 = nn.Linear(cfg.mlp_width, cfg.width)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(activate(self.fc1(x), self.activation))


class _Layer(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.self_attn = _Attention(cfg)
        self.layer_norm1 = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.mlp = _MLP(cfg)
        self.layer_norm2 = nn.LayerNorm(cfg.width, eps=cfg.eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(cfg.width) * cfg.width**-0.5)
        self.patch_embedding = nn.Conv2d(3, cfg.width, cfg.patch_size, stride=cfg.patch_size,
                                         bias=False)
        self.position_embedding = nn.Embedding(cfg.num_positions, cfg.width)

    def forward(self, pixels: Tensor) -> Tensor:
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype))
        patches = patches.flatten(2).transpose(1, 2)  # (B, g*g, width)
        cls = self.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)
        tokens = torch.cat([cls, patches], dim=1)  # (B, P, width)
        return tokens + self.position_embedding.weight.to(tokens.dtype)


class _Encoder(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Layer(cfg) for _ in range(cfg.layers))


class _VisionTransformer(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.embeddings = _Embeddings(cfg)
        self.pre_layrnorm = nn.LayerNorm(cfg.width, eps=cfg.eps)  # sic: transformers' name
        self.encoder = _Encoder(cfg)
        self.post_layernorm = nn.LayerNorm(cfg.width, eps=cfg.eps)


class CLIPVisionModel(nn.Module):
    """CLIP image encoder and projection (``vision_model.*``, ``visual_projection.weight``)."""

    def __init__(self, config: VisionConfig = VIT_L_14) -> None:
        super().__init__()
        self.config = config
        self.vision_model = _VisionTransformer(config)
        self.visual_projection = nn.Linear(config.width, config.projection_dim, bias=False)

    def forward(self, pixel_values: Tensor) -> VisionEncoding:
        """pixel_values: (B, 3, S, S) normalised (``clip_preprocess``), S = image_size."""
        size = self.config.image_size
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != (3, size, size):
            raise ValueError(f"pixel_values must be (B, 3, {size}, {size}), got "
                             f"{tuple(pixel_values.shape)}")
        vm = self.vision_model
        x = vm.pre_layrnorm(vm.embeddings(pixel_values))  # (B, P, width)
        penultimate = x
        last_index = len(vm.encoder.layers) - 1
        for i, layer in enumerate(vm.encoder.layers):
            x = layer(x)
            if i == last_index - 1:
                penultimate = x
        pooled = vm.post_layernorm(x[:, 0])  # (B, width)
        return VisionEncoding(x, penultimate, self.visual_projection(pooled))
