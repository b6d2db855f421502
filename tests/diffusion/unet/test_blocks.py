"""UNet blocks: the no-autograd fast paths give the autograd results."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from diffusion.unet import blocks
from diffusion.unet.blocks import GEGLU, FeedForward


def test_geglu_without_autograd_equals_geglu_with_it() -> None:
    torch.manual_seed(0)
    layer = GEGLU(8, 6)
    x = torch.randn(2, 5, 8, requires_grad=True)
    with_grad = layer(x)
    with_grad.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():
        torch.testing.assert_close(layer(x), with_grad.detach(), rtol=0, atol=0)


def test_feed_forward_in_row_chunks_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    layer = FeedForward(8).eval()  # projection 8 -> 64 floats per row
    x = torch.randn(2, 37, 8)  # 74 rows: 18,944 projected bytes
    with torch.no_grad():
        whole = layer(x)  # under FF_MMAP_BYTES: one pass
    calls: list[int] = []
    proj = layer.net[0].proj
    monkeypatch.setattr(blocks, "FF_MMAP_BYTES", 1024)
    monkeypatch.setattr(blocks, "FF_BLOCK_BYTES", 4096)  # 16 rows: 5 chunks of <= 15 rows
    proj.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    with torch.no_grad():
        chunked = layer(x)
    assert len(calls) == 5 and sum(calls) == 74 and max(calls) <= 16
    assert chunked.shape == x.shape
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    calls.clear()
    x.requires_grad_(True)
    layer(x).sum().backward()  # autograd: one pass, as before
    assert len(calls) == 1 and x.grad is not None


def test_feed_forward_with_a_wrapped_projection_takes_one_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Wrapper(nn.Module):  # as LoRA training wraps a Linear: no out_features
        def __init__(self, base: nn.Module) -> None:
            super().__init__()
            self.base = base

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x)

    torch.manual_seed(0)
    layer = FeedForward(8).eval()
    x = torch.randn(2, 37, 8)
    with torch.no_grad():
        want = layer(x)
        layer.net[0].proj = Wrapper(layer.net[0].proj)
        monkeypatch.setattr(blocks, "FF_MMAP_BYTES", 1024)
        torch.testing.assert_close(layer(x), want, rtol=0, atol=0)
