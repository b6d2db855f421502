"""CLIP vision transformers (OpenAI ViT-L/14 …) with transformers' parameter names
(``CLIPVisionModelWithProjection``: ``vision_model.*`` and ``visual_projection``), and ComfyUI's
image preprocessing (``clip_preprocess``).

``CLIPVisionTransformer`` is ``vision_model``: patch and class embeddings plus positions,
``pre_layrnorm`` (transformers' spelling), pre-norm encoder layers (non-causal attention, quick
GELU for OpenAI's towers), and ``post_layernorm`` on the class token (the pooled output).
``CLIPVisionModel`` adds ``visual_projection`` (no bias) giving the image embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Activation = Literal["quick_gelu", "gelu"]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class CLIPVisionConfig:
    hidden: int = 1024
    intermediate: int = 4096
    heads: int = 16
    layers: int = 24
    image_size: int = 224
    patch_size: int = 14
    projection_dim: int = 768
    activation: Activation = "quick_gelu"
    eps: float = 1e-5

    @property
    def positions(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1  # patches and the class token


VIT_L_14 = CLIPVisionConfig()  # OpenAI CLIP ViT-L/14 at 224 px (PhotoMaker's ID encoder)


@dataclass(frozen=True)
class VisionEncoding:
    hidden: Tensor  # (B, 1 + patches, hidden) after the requested layer (no final norm)
    pooled: Tensor  # (B, hidden): post_layernorm of the last layer's class token
    image_embeds: Tensor | None  # (B, projection_dim) with a projection, else None


class _Embeddings(nn.Module):
    def __init__(self, cfg: CLIPVisionConfig) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.zeros(cfg.hidden))
        self.patch_embedding = nn.Conv2d(3, cfg.hidden, cfg.patch_size, stride=cfg.patch_size,
                                         bias=False)
        self.position_embedding = nn.Embedding(cfg.positions, cfg.hidden)

    def forward(self, pixels: Tensor) -> Tensor:
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype))
        patches = patches.flatten(2).transpose(1, 2)  # (B, P, hidden)
        cls = self.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)
        x = torch.cat([cls, patches], dim=1)  # (B, 1 + P, hidden)
        return x + self.position_embedding.weight[: x.shape[1]]


class _Attention(nn.Module):
    def __init__(self, cfg: CLIPVisionConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.k_proj = nn.Linear(cfg.hidden, cfg.hidden)
        self.v_proj = nn.Linear(cfg.hidden, cfg.hidden)
        self.q_proj = nn.Linear(cfg.hidden, cfg.hidden)
        self.out_proj = nn.Linear(cfg.hidden, cfg.hidden)

    def forward(self, x: Tensor) -> Tensor:
        b, n, width = x.shape
        q, k, v = (p(x).reshape(b, n, self.heads, -1).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))  # (B, h, N, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, width))  # (B, N, width)


class _MLP(nn.Module):
    def __init__(self, cfg: CLIPVisionConfig) -> None:
        super().__init__()
        self.activation = cfg.activation
        self.fc1 = nn.Linear(cfg.hidden, cfg.intermediate)
        self.fc2 = nn.Linear(cfg.intermediate, cfg.hidden)

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.activation == "quick_gelu" else F.gelu(h)
        return self.fc2(h)


class _Layer(nn.Module):
    def __init__(self, cfg: CLIPVisionConfig) -> None:
        super().__init__()
        self.self_attn = _Attention(cfg)
        self.layer_norm1 = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        self.mlp = _MLP(cfg)
        self.layer_norm2 = nn.LayerNorm(cfg.hidden, eps=cfg.eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _Encoder(nn.Module):
    def __init__(self, cfg: CLIPVisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Layer(cfg) for _ in range(cfg.layers))


class CLIPVisionTransformer(nn.Module):
    """``vision_model``: pixels (B, 3, S, S), CLIP-normalised -> ``VisionEncoding`` (no
    projection)."""

    def __init__(self, config: CLIPVisionConfig = VIT_L_14) -> None:
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.pre_layrnorm = nn.LayerNorm(config.hidden, eps=config.eps)
        self.encoder = _Encoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden, eps=config.eps)

    def forward(self, pixels: Tensor, *, layer: int = -1) -> VisionEncoding:
        """``layer`` picks the hidden states returned (-1 last, -2 penultimate …)."""
        layers = self.config.layers
        if not -layers <= layer <= -1:
            raise ValueError(f"layer={layer} must be between -{layers} and -1")
        x = self.pre_layrnorm(self.embeddings(pixels))  # (B, 1 + P, hidden)
        hidden = x
        for i, block in enumerate(self.encoder.layers):
            x = block(x)
            if i == layers + layer:
                hidden = x
        return VisionEncoding(hidden, self.post_layernorm(x[:, 0]), None)


class CLIPVisionModel(nn.Module):
    """``CLIPVisionModelWithProjection``: the transformer and ``visual_projection``."""

    def __init__(self, config: CLIPVisionConfig = VIT_L_14) -> None:
        super().__init__()
        self.config = config
        self.vision_model = CLIPVisionTransformer(config)
        self.visual_projection = nn.Linear(config.hidden, config.projection_dim, bias=False)

    def forward(self, pixels: Tensor, *, layer: int = -1) -> VisionEncoding:
        out = self.vision_model(pixels, layer=layer)
        return VisionEncoding(out.hidden, out.pooled, self.visual_projection(out.pooled))


def clip_preprocess(image: Tensor, size: int = 224, *, crop: bool = True) -> Tensor:
    """ComfyUI's ``clip_preprocess``: IMAGE (B, H, W, C) in [0, 1] -> (B, 3, size, size)
    CLIP-normalised. The shorter side is scaled to ``size`` (bicubic, antialiased) and the
    centre cropped (``crop=False``: stretched), pixels are rounded to 8 bits, then normalised;
    an image already ``size`` x ``size`` is only rounded and normalised."""
    rgb = image[..., :3].movedim(-1, 1).float()  # (B, 3, H, W)
    if rgb.shape[2:] != (size, size):
        if crop:
            scale = size / min(rgb.shape[2], rgb.shape[3])
            target = (round(scale * rgb.shape[2]), round(scale * rgb.shape[3]))
        else:
            target = (size, size)
        rgb = F.interpolate(rgb, size=target, mode="bicubic", antialias=True)
        top, left = (rgb.shape[2] - size) // 2, (rgb.shape[3] - size) // 2
        rgb = rgb[:, :, top:top + size, left:left + size]  # (B, 3, size, size)
    rgb = torch.clip(255.0 * rgb, 0, 255).round() / 255.0
    mean = torch.tensor(CLIP_MEAN, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std
