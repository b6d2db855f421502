"""PhotoMaker's ID encoder (TencentARC PhotoMaker v1), parameter names as in its ``id_encoder``.

A CLIP ViT-L/14 image tower (``diffusion.vision``'s ``vision_model``) gives each ID image's
pooled embedding; two projections (``visual_projection`` to 768 and ``visual_projection_2`` to
1280) concatenate to a 2048-wide ID embedding, SDXL's context width. The fuse module replaces
the class token's text embedding e (the token before the trigger word) with
``layer_norm(mlp2(mlp1([e, id]) + e))``: each MLP is LayerNorm, fc1, GELU, fc2; the second
adds its input back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from diffusion.vision import VIT_L_14, CLIPVisionTransformer, VisionConfig

ID_WIDTH = 2048  # visual_projection (768) + visual_projection_2 (1280): SDXL's context width
PROJECTION_2 = 1280


class MLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, *, residual: bool) -> None:
        super().__init__()
        if residual and in_dim != out_dim:
            raise ValueError(f"a residual MLP needs in_dim == out_dim, got {in_dim}, {out_dim}")
        self.residual = residual
        self.layernorm = nn.LayerNorm(in_dim)
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)
        self.act_fn = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.fc2(self.act_fn(self.fc1(self.layernorm(x))))
        return out + x if self.residual else out


class FuseModule(nn.Module):
    """Fuses class-token text embeddings (k, width) with ID embeddings (k, width)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mlp1 = MLP(width * 2, width, width, residual=False)
        self.mlp2 = MLP(width, width, width, residual=True)
        self.layer_norm = nn.LayerNorm(width)

    def forward(self, text: Tensor, ids: Tensor) -> Tensor:
        fused = self.mlp1(torch.cat([text, ids], dim=-1)) + text  # (k, width)
        return self.layer_norm(self.mlp2(fused))


@dataclass(frozen=True)
class PhotoMakerConfig:
    vision: VisionConfig = VIT_L_14
    projection_2: int = PROJECTION_2

    @property
    def id_width(self) -> int:
        return self.vision.projection_dim + self.projection_2


class PhotoMakerIDEncoder(nn.Module):
    """ID images -> ID embeddings -> text embeddings with the class token fused."""

    def __init__(self, config: PhotoMakerConfig = PhotoMakerConfig()) -> None:
        super().__init__()
        self.config = config
        vision = config.vision
        self.vision_model = CLIPVisionTransformer(vision)
        self.visual_projection = nn.Linear(vision.width, vision.projection_dim, bias=False)
        self.visual_projection_2 = nn.Linear(vision.width, config.projection_2, bias=False)
        self.fuse_module = FuseModule(config.id_width)
        self._placed: dict[tuple[str, torch.dtype], PhotoMakerIDEncoder] = {}
        self._lock = threading.Lock()

    def id_embeddings(self, pixels: Tensor) -> Tensor:
        """(n, 3, S, S) CLIP-normalised ID images -> (n, id_width)."""
        pooled = self.vision_model(pixels).pooled  # (n, width)
        return torch.cat([self.visual_projection(pooled), self.visual_projection_2(pooled)],
                         dim=-1)

    def forward(self, pixels: Tensor, prompt: Tensor, class_mask: Tensor) -> Tensor:
        """prompt (1, T, id_width) with its class tokens (T,) bool fused with the first
        ``class_mask.sum()`` ID images of ``pixels`` (n, 3, S, S), in order (PhotoMaker's
        ``FuseModule.forward`` for a batch of one prompt)."""
        if prompt.ndim != 3 or prompt.shape[0] != 1 or class_mask.shape != prompt.shape[1:2]:
            raise ValueError(f"prompt must be (1, T, width) with a (T,) class mask, got "
                             f"{tuple(prompt.shape)} and {tuple(class_mask.shape)}")
        count = int(class_mask.sum())
        if count > pixels.shape[0]:
            raise ValueError(f"{count} class tokens but only {pixels.shape[0]} ID images")
        ids = self.id_embeddings(pixels[:count]).to(prompt.dtype)  # (k, id_width)
        fused = self.fuse_module(prompt[0, class_mask], ids)  # (k, id_width)
        out = prompt.clone()
        out[0, class_mask] = fused.to(prompt.dtype)
        return out  # (1, T, id_width)

    @property
    def nbytes(self) -> int:
        """Bytes of weights held, device copies included (the output cache counts them)."""
        models = [self, *self._placed.values()]
        return sum(p.numel() * p.element_size() for m in models for p in m.parameters())

    def placed(self, device: torch.device, dtype: torch.dtype) -> PhotoMakerIDEncoder:
        """This encoder on ``device`` in ``dtype``: itself when it is there, else a copy made
        once per (device, dtype) and kept (the loaded encoder itself never moves)."""
        here = next(self.parameters())
        if here.device == device and here.dtype == dtype:
            return self
        key = (str(device), dtype)
        with self._lock:
            if key not in self._placed:
                with torch.device("meta"):
                    copy = PhotoMakerIDEncoder(self.config)
                state = {k: v.to(device, dtype) for k, v in self.state_dict().items()}
                copy.load_state_dict(state, strict=True, assign=True)
                self._placed[key] = copy.eval().requires_grad_(False)
            return self._placed[key]
