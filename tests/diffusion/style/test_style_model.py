"""The T2I-Adapter style model: our module against the original ``StyleAdapter``'s computation
(rebuilt here as the original code writes it: ``nn.MultiheadAttention`` over LND tensors,
QuickGELU MLP, fp32 LayerNorms) on random weights; the full-size layout (1024 wide, 3 layers,
8 tokens, 768 context: what ComfyUI constructs) opens from its keys, a truncated one is refused
naming the keys, and a Flux Redux file is refused by name."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from diffusion.loading import UnknownModelError
from diffusion.loading.files import TensorFile
from diffusion.style import StyleAdapter, StyleConfig, open_style_file, style_tokens


class _QuickGELU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class _Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)),
                                              ("gelu", _QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class OriginalStyleAdapter(nn.Module):
    def __init__(self, width: int, context_dim: int, num_head: int, n_layes: int,
                 num_token: int) -> None:
        super().__init__()
        self.transformer_layes = nn.Sequential(*[_Block(width, num_head)
                                                 for _ in range(n_layes)])
        self.num_token = num_token
        self.style_embedding = nn.Parameter(torch.randn(1, num_token, width))
        self.ln_post = nn.LayerNorm(width)
        self.ln_pre = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, context_dim))

    def forward(self, x: Tensor) -> Tensor:
        style = self.style_embedding + torch.zeros((x.shape[0], self.num_token,
                                                    self.style_embedding.shape[-1]))
        x = self.ln_pre(torch.cat([x, style], dim=1)).permute(1, 0, 2)  # NLD -> LND
        x = self.transformer_layes(x).permute(1, 0, 2)  # LND -> NLD
        return self.ln_post(x[:, -self.num_token:, :]) @ self.proj


def test_matches_the_original_computation(randomize, rel_err) -> None:
    ref = OriginalStyleAdapter(64, 24, 8, 2, 3).eval()
    randomize(ref, 4)
    ours = StyleAdapter(StyleConfig(width=64, context_dim=24, layers=2, num_token=3)).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    hidden = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = ref(hidden), ours(hidden)
    assert rel_err(got, want) <= 1e-5
    flat = style_tokens(ours, hidden)
    assert flat.shape == (1, 6, 24) and torch.equal(flat[0, 3:], got[1])


def _manifest() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        ref = OriginalStyleAdapter(1024, 768, 8, 3, 8)
    return {k: tuple(v.shape) for k, v in ref.state_dict().items()}


def test_full_size_layout_opens_and_truncation_is_named() -> None:
    manifest = _manifest()
    opened = open_style_file(TensorFile(Path("t2iadapter_style_sd14v1.pth"), manifest))
    assert opened is not None and opened.config == StyleConfig()
    built = {k.removeprefix("style_model."): tuple(v.shape)
             for k, v in opened.empty("style_model").state_dict().items()}
    assert built == manifest
    del manifest["transformer_layes.2.ln_2.bias"], manifest["ln_post.weight"]
    with pytest.raises(UnknownModelError) as info:
        open_style_file(TensorFile(Path("cut.pth"), manifest))
    assert "missing (2)" in str(info.value)
    assert "style_model.transformer_layes.2.ln_2.bias" in str(info.value)
    with pytest.raises(UnknownModelError, match="Flux Redux"):
        open_style_file(TensorFile(Path("redux.safetensors"), {"redux_down.weight": (4096, 1)}))
