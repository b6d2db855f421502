"""A reference PhotoMaker ID encoder for the tests, written after the published code
(TencentARC/PhotoMaker, ``photomaker/model.py``, Apache-2.0): the encoder *is* transformers'
``CLIPVisionModelWithProjection`` plus ``visual_projection_2`` and the fuse module, and its forward
takes ``id_pixel_values`` (b, n, 3, S, S), ``prompt_embeds`` (b, T, 2048) and
``class_tokens_mask`` (b, T); the first ``mask.sum()`` ID embeddings replace the masked tokens
through ``fuse_fn``. Written here from its description, for parity; not our implementation."""

from __future__ import annotations

import torch
import transformers
from torch import Tensor, nn

# photomaker/model.py's VISION_CONFIG_DICT (OpenAI CLIP ViT-L/14, 224 px)
VISION_CONFIG_DICT = {
    "hidden_size": 1024, "image_size": 224, "intermediate_size": 4096,
    "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 24, "patch_size": 14,
    "projection_dim": 768, "hidden_act": "quick_gelu",
}


class RefMLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, use_residual: bool) -> None:
        super().__init__()
        self.layernorm = nn.LayerNorm(in_dim)
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)
        self.use_residual = use_residual
        self.act_fn = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.fc2(self.act_fn(self.fc1(self.layernorm(x))))
        return y + x if self.use_residual else y


class RefFuseModule(nn.Module):
    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.mlp1 = RefMLP(embed_dim * 2, embed_dim, embed_dim, use_residual=False)
        self.mlp2 = RefMLP(embed_dim, embed_dim, embed_dim, use_residual=True)
        self.layer_norm = nn.LayerNorm(embed_dim)

    def fuse_fn(self, prompt_embeds: Tensor, id_embeds: Tensor) -> Tensor:
        stacked = self.mlp1(torch.cat([prompt_embeds, id_embeds], dim=-1)) + prompt_embeds
        return self.layer_norm(self.mlp2(stacked))

    def forward(self, prompt_embeds: Tensor, id_embeds: Tensor,
                class_tokens_mask: Tensor) -> Tensor:
        # id_embeds: (b, max_num_inputs, 1, width); only the first mask.sum() inputs are valid
        id_embeds = id_embeds.to(prompt_embeds.dtype)
        num_inputs = class_tokens_mask.sum().unsqueeze(0)
        batch, max_inputs = id_embeds.shape[:2]
        seq = prompt_embeds.shape[1]
        flat = id_embeds.view(-1, id_embeds.shape[-2], id_embeds.shape[-1])
        valid = torch.arange(max_inputs)[None, :] < num_inputs[:, None]
        valid_ids = flat[valid.flatten()].view(-1, flat.shape[-1])
        prompt = prompt_embeds.reshape(-1, prompt_embeds.shape[-1]).clone()
        mask = class_tokens_mask.view(-1)
        fused = self.fuse_fn(prompt[mask], valid_ids)
        prompt.masked_scatter_(mask[:, None], fused.to(prompt.dtype))
        return prompt.view(batch, seq, -1)


class RefPhotoMakerIDEncoder(transformers.CLIPVisionModelWithProjection):
    def __init__(self, config: transformers.CLIPVisionConfig, projection_2: int = 1280) -> None:
        super().__init__(config)
        self.visual_projection_2 = nn.Linear(config.hidden_size, projection_2, bias=False)
        self.fuse_module = RefFuseModule(config.projection_dim + projection_2)

    def forward(self, id_pixel_values: Tensor, prompt_embeds: Tensor,  # type: ignore[override]
                class_tokens_mask: Tensor) -> Tensor:
        b, n, c, h, w = id_pixel_values.shape
        shared = self.vision_model(id_pixel_values.view(b * n, c, h, w))[1]  # pooler output
        ids = torch.cat([self.visual_projection(shared).view(b, n, 1, -1),
                         self.visual_projection_2(shared).view(b, n, 1, -1)], dim=-1)
        return self.fuse_module(prompt_embeds, ids, class_tokens_mask)
