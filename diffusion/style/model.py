"""The T2I-Adapter style model (``t2iadapter_style``; TencentARC's ``StyleAdapter``), in its
checkpoint's key layout: ``style_embedding``, ``ln_pre``, ``transformer_layes.N`` (sic; OpenAI
CLIP residual blocks with a fused ``in_proj``, QuickGELU), ``ln_post`` and ``proj``.

It appends ``num_token`` learned queries to a CLIP ViT-L/14 ``last_hidden_state``, runs the
transformer and returns those positions, normalised and projected to the UNet's context width.
Head count (8) is ComfyUI's constant; everything else is read from the file's shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.loading.errors import UnknownModelError

STYLE_HEADS = 8


@dataclass(frozen=True)
class StyleConfig:
    width: int = 1024
    context_dim: int = 768
    layers: int = 3
    num_token: int = 8
    heads: int = STYLE_HEADS


class _Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn = nn.MultiheadAttention(width, heads)  # parameter names only
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)

    def _attention(self, x: Tensor) -> Tensor:
        b, t, width = x.shape
        qkv = F.linear(x, self.attn.in_proj_weight, self.attn.in_proj_bias)  # (B, T, 3 width)
        q, k, v = (part.reshape(b, t, self.heads, -1).transpose(1, 2)
                   for part in qkv.chunk(3, dim=-1))  # (B, h, T, d)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, width)
        return self.attn.out_proj(out)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self._attention(self.ln_1(x))
        h = self.mlp.c_fc(self.ln_2(x))
        return x + self.mlp.c_proj(h * torch.sigmoid(1.702 * h))


class StyleAdapter(nn.Module):
    def __init__(self, config: StyleConfig = StyleConfig()) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.transformer_layes = nn.Sequential(
            *(_Block(width, config.heads) for _ in range(config.layers)))
        self.style_embedding = nn.Parameter(torch.randn(1, config.num_token, width) * width**-0.5)
        self.ln_post = nn.LayerNorm(width)
        self.ln_pre = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, config.context_dim) * width**-0.5)

    def forward(self, hidden: Tensor) -> Tensor:
        """hidden: CLIP vision last_hidden_state (N, P, width) -> (N, num_token, context)."""
        if hidden.ndim != 3 or hidden.shape[-1] != self.config.width:
            raise ValueError(f"the style model takes (N, P, {self.config.width}) CLIP vision "
                             f"hidden states, got {tuple(hidden.shape)}")
        dtype = self.style_embedding.dtype
        queries = self.style_embedding.expand(hidden.shape[0], -1, -1)  # (N, T, width)
        x = self.ln_pre(torch.cat([hidden.to(dtype), queries], dim=1))  # (N, P + T, width)
        x = self.transformer_layes(x)
        return self.ln_post(x[:, -self.config.num_token:]) @ self.proj  # (N, T, context)


def style_tokens(model: StyleAdapter, hidden: Tensor) -> Tensor:
    """ComfyUI's ``get_cond`` flattened over the batch: (1, N * num_token, context), float32."""
    with torch.no_grad():
        tokens = model(hidden)  # (N, T, context)
    return tokens.float().flatten(0, 1).unsqueeze(0)


def detect_style(shapes: Mapping[str, tuple[int, ...]], prefix: str = "") -> StyleConfig:
    embedding, proj = prefix + "style_embedding", prefix + "proj"
    if embedding not in shapes or proj not in shapes:
        raise UnknownModelError(f"no style model under {prefix!r}: {embedding} / {proj} missing")
    head = prefix + "transformer_layes."
    layers = {int(k[len(head):].split(".", 1)[0]) for k in shapes if k.startswith(head)}
    _, tokens, width = shapes[embedding]
    return StyleConfig(width=width, context_dim=shapes[proj][1], layers=len(layers),
                       num_token=tokens)
