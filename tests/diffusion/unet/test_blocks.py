"""UNet blocks: the no-autograd fast paths give the autograd results."""

from __future__ import annotations

import torch

from diffusion.unet.blocks import GEGLU


def test_geglu_without_autograd_equals_geglu_with_it() -> None:
    torch.manual_seed(0)
    layer = GEGLU(8, 6)
    x = torch.randn(2, 5, 8, requires_grad=True)
    with_grad = layer(x)
    with_grad.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():
        torch.testing.assert_close(layer(x), with_grad.detach(), rtol=0, atol=0)
