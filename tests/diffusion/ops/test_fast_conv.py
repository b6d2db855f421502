"""The UNet's 3x3 convolutions: product on tiny maps, Winograd on larger ones, oneDNN otherwise;
same results as ``F.conv2d``, same module and keys."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diffusion.ops.fast_conv import (
    F2_MAX_MAP,
    SMALL_MAP,
    WINOGRAD_MIN_CHANNELS,
    CastFastConv2d,
    FastConv2d,
    conv3x3_path,
    conv3x3_product,
)
from diffusion.unet.blocks import ResBlock
from diffusion.weight_cast import cast_weights


def takes_product(layer: nn.Conv2d, x: torch.Tensor) -> bool:
    return conv3x3_path(layer, x, layer.weight) == "product"


def _layer(cin: int = 12, cout: int = 10, **kw: object) -> FastConv2d:
    torch.manual_seed(0)
    return FastConv2d(cin, cout, 3, padding=1, **kw).eval()  # type: ignore[arg-type]


@pytest.mark.parametrize("hw", [(1, 1), (4, 4), (8, 8), (5, 7)])
def test_product_matches_conv2d_on_small_maps(hw: tuple[int, int]) -> None:
    layer = _layer()
    x = torch.randn(3, 12, *hw, generator=torch.Generator().manual_seed(1))  # (B, C, H, W)
    assert takes_product(layer, x)
    want = F.conv2d(x, layer.weight, layer.bias, padding=1)
    torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conv3x3_product(x, layer.weight, None),
                               F.conv2d(x, layer.weight, None, padding=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hw", [(16, 16), (7, 9), (20, 20)])
def test_stride_2_takes_the_product_when_its_output_is_small(hw: tuple[int, int]) -> None:
    layer = _layer(stride=2)  # a UNet downsampler: 16x16 -> 8x8, 7x9 -> 4x5, 20x20 -> 10x10
    x = torch.randn(2, 12, *hw, generator=torch.Generator().manual_seed(2))  # (B, C, H, W)
    assert takes_product(layer, x)
    want = F.conv2d(x, layer.weight, layer.bias, stride=2, padding=1)
    got = layer(x)
    assert got.shape == want.shape == (2, 10, (hw[0] + 1) // 2, (hw[1] + 1) // 2)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not takes_product(layer, torch.randn(2, 12, 22, 22))  # 11x11 = 121 > SMALL_MAP


def test_large_maps_other_kernels_and_other_dtypes_take_the_ordinary_path() -> None:
    layer = _layer()
    assert not takes_product(layer, torch.randn(1, 12, 16, 16))  # 256 > SMALL_MAP
    assert SMALL_MAP < 16 * 16
    assert not takes_product(layer, torch.randn(1, 12, 8, 8, dtype=torch.float64))
    strided = _layer(stride=2)
    assert conv3x3_path(strided, torch.randn(1, 12, 32, 32), strided.weight) is None  # 16x16
    grouped = _layer(groups=2)
    assert not takes_product(grouped, torch.randn(1, 12, 8, 8))
    one = FastConv2d(12, 10, 1)
    assert not takes_product(one, torch.randn(1, 12, 8, 8))
    x = torch.randn(2, 12, 8, 8, dtype=torch.float64)
    double = _layer().double()
    torch.testing.assert_close(double(x), F.conv2d(x, double.weight, double.bias, padding=1))


def test_gradients_flow_through_the_product() -> None:
    layer = _layer().train()
    x = torch.randn(2, 12, 6, 6, requires_grad=True)
    layer(x).square().sum().backward()
    ref = _layer().train()
    x2 = x.detach().clone().requires_grad_(True)
    F.conv2d(x2, ref.weight, ref.bias, padding=1).square().sum().backward()
    assert x.grad is not None and layer.weight.grad is not None and ref.weight.grad is not None
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(layer.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)


def test_half_weights_upcast_per_call_give_the_upcast_layer_result() -> None:
    block = ResBlock(16, 8, 24, groups=4, eps=1e-5).eval()
    x = torch.randn(2, 16, 8, 8)  # (B, C, H, W): a small map
    emb = torch.randn(2, 8)
    half = block.half()
    with torch.no_grad():
        want = ResBlock(16, 8, 24, groups=4, eps=1e-5).eval()
        want.load_state_dict({k: v.float() for k, v in half.state_dict().items()})
        expected = want(x, emb)
        report = cast_weights(half, torch.float32)
        got = half(x, emb)
    assert report.layers > 0
    conv = half.in_layers[2]
    assert type(conv) is CastFastConv2d and isinstance(conv, nn.Conv2d)
    assert conv.weight.dtype == torch.float16  # stored as it was
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_state_dict_keys_are_those_of_conv2d() -> None:
    layer = _layer()
    plain = nn.Conv2d(12, 10, 3, padding=1)
    assert list(layer.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(layer.state_dict())


def _wide(cin: int = WINOGRAD_MIN_CHANNELS, cout: int = WINOGRAD_MIN_CHANNELS) -> FastConv2d:
    return _layer(cin, cout)


@pytest.mark.parametrize(("hw", "path"), [
    ((10, 12), "winograd-f2"), ((12, 18), "winograd-f2"), ((32, 32), "winograd-f2"),
    ((34, 34), "winograd-f2"),  # above F2_MAX_MAP, but 34 is no multiple of 4
    ((36, 40), "winograd-f4"),
])
def test_larger_maps_take_winograd_and_match_conv2d(hw: tuple[int, int], path: str) -> None:
    assert hw[0] * hw[1] > SMALL_MAP
    assert (hw[0] * hw[1] > F2_MAX_MAP) == (hw in ((34, 34), (36, 40)))
    layer = _wide()
    x = torch.randn(2, WINOGRAD_MIN_CHANNELS, *hw, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert conv3x3_path(layer, x, layer.weight) == path
        got = layer(x)
        want = F.conv2d(x, layer.weight, layer.bias, padding=1)
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()


def test_winograd_only_where_it_pays_and_no_gradient_is_needed() -> None:
    layer = _wide()
    x = torch.randn(1, WINOGRAD_MIN_CHANNELS, 16, 16)
    with torch.no_grad():
        assert conv3x3_path(layer, torch.randn(1, WINOGRAD_MIN_CHANNELS, 15, 16),
                            layer.weight) is None  # odd map: oneDNN
        narrow = _layer(WINOGRAD_MIN_CHANNELS - 1, WINOGRAD_MIN_CHANNELS)
        assert conv3x3_path(narrow, torch.randn(1, WINOGRAD_MIN_CHANNELS - 1, 16, 16),
                            narrow.weight) is None  # too few channels for the transforms to pay
        assert conv3x3_path(layer, x.double(), layer.weight) is None
    # with autograd on and a weight that wants a gradient, oneDNN (Winograd writes in place)
    assert conv3x3_path(layer.train().requires_grad_(True), x, layer.weight) is None
    with torch.inference_mode():
        assert conv3x3_path(layer, x, layer.weight) == "winograd-f2"


def test_winograd_layer_keeps_gradients_by_taking_the_ordinary_path() -> None:
    layer = _wide().train()
    x = torch.randn(1, WINOGRAD_MIN_CHANNELS, 12, 12, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
    assert layer.weight.grad.abs().sum() > 0


def test_upsample_and_resblock_convolutions_are_fast_convs() -> None:
    from diffusion.unet.blocks import Upsample

    block = ResBlock(16, 8, 24, groups=4, eps=1e-5)
    assert isinstance(block.in_layers[2], FastConv2d)
    assert isinstance(block.out_layers[3], FastConv2d)
    assert isinstance(Upsample(8).conv, FastConv2d)

