"""Winograd F(2x2, 3x3) and F(4x4, 3x3): equal to ``F.conv2d`` up to rounding, inputs untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from diffusion.ops import winograd
from diffusion.ops.winograd import (
    F2,
    F4,
    Scheme,
    transform_input,
    transform_output,
    transform_weight,
    winograd_conv3x3,
)


def _data(b: int, c: int, o: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=gen)  # (B, C, H, W)
    weight = torch.randn(o, c, 3, 3, generator=gen) / (3 * c**0.5)  # (O, C, 3, 3)
    bias = torch.randn(o, generator=gen)
    return x, weight, bias


def _assert_conv(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()


SCHEMES = [pytest.param(F2, id="F2"), pytest.param(F4, id="F4")]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", [(1, 3, 5, 4, 4), (2, 8, 6, 4, 8), (3, 16, 16, 8, 12),
                                   (2, 32, 24, 16, 16)])
def test_matches_conv2d(shape: tuple[int, int, int, int, int], scheme: Scheme) -> None:
    x, weight, bias = _data(*shape)
    _assert_conv(winograd_conv3x3(x, weight, bias, scheme),
                 F.conv2d(x, weight, bias, padding=1))
    _assert_conv(winograd_conv3x3(x, weight, None, scheme),
                 F.conv2d(x, weight, None, padding=1))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_transform_matrices_satisfy_the_one_dimensional_identity(scheme: Scheme) -> None:
    """A^T [(G g) * (B^T d)] equals the m outputs of correlating d (m+2) with g (3)."""
    bt, g, at = (torch.tensor(rows, dtype=torch.float64) for rows in (scheme.bt, scheme.g,
                                                                       scheme.at))
    gen = torch.Generator().manual_seed(4)
    d = torch.randn(scheme.tile, dtype=torch.float64, generator=gen)
    kernel = torch.randn(3, dtype=torch.float64, generator=gen)
    want = torch.stack([d[i:i + 3] @ kernel for i in range(scheme.m)])
    torch.testing.assert_close(at @ ((g @ kernel) * (bt @ d)), want)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_one_impulse_reproduces_the_flipped_kernel_around_it(scheme: Scheme) -> None:
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 3] = 1.0
    weight = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    got = winograd_conv3x3(x, weight, None, scheme)[0, 0]  # (8, 8)
    # up to rounding of F(4x4, 3x3)'s fractions: 1e-5 of the largest value, as _assert_conv
    torch.testing.assert_close(got[1:4, 2:5], weight[0, 0].flip(0, 1), rtol=0, atol=9e-5)
    got[1:4, 2:5] = 0
    assert got.abs().max() < 9e-5


@pytest.mark.parametrize("scheme", SCHEMES)
def test_strided_and_channels_last_inputs_and_inputs_unchanged(scheme: Scheme) -> None:
    x, weight, bias = _data(2, 8, 4, 8, 12, seed=3)
    wide = torch.randn(2, 8, 8, 24)[..., ::2]  # (2, 8, 8, 12), not contiguous
    for given in (x.to(memory_format=torch.channels_last), wide):
        before = given.clone()
        _assert_conv(winograd_conv3x3(given, weight, bias, scheme),
                     F.conv2d(given, weight, bias, padding=1))
        assert torch.equal(given, before)
    weight_before, bias_before = weight.clone(), bias.clone()
    winograd_conv3x3(x, weight, bias, scheme)
    assert torch.equal(weight, weight_before) and torch.equal(bias, bias_before)


def test_transforms_have_the_documented_shapes() -> None:
    x, weight, bias = _data(2, 8, 4, 8, 12)
    for scheme, tiles_per_image in ((F2, 4 * 6), (F4, 2 * 3)):
        u = transform_weight(weight, scheme)
        assert u.shape == (scheme.tile**2, 4, 8)
        tiles = transform_input(x, scheme)
        assert tiles.shape == (scheme.tile**2, 8, 2 * tiles_per_image)
        assert transform_output(torch.bmm(u, tiles), (2, 8, 12), bias,
                                scheme).shape == (2, 4, 8, 12)


def test_maps_the_tile_step_does_not_divide_are_refused_with_the_shape_named() -> None:
    x, weight, bias = _data(1, 4, 4, 5, 6)
    with pytest.raises(ValueError, match=r"multiples of 2.*\(1, 4, 5, 6\)"):
        winograd_conv3x3(x, weight, bias)
    x, weight, bias = _data(1, 4, 4, 6, 8)
    with pytest.raises(ValueError, match=r"F\(4x4, 3x3\).*multiples of 4.*\(1, 4, 6, 8\)"):
        winograd_conv3x3(x, weight, bias, F4)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", [(1, 8, 40, 4, 8), (2, 6, 5, 16, 12)],
                         ids=["output-channel blocks", "tile-row bands"])
def test_blocks_and_bands_give_the_whole_result(
        shape: tuple[int, int, int, int, int], scheme: Scheme,
        monkeypatch: pytest.MonkeyPatch) -> None:
    x, weight, bias = _data(*shape, seed=5)
    whole = winograd_conv3x3(x, weight, bias, scheme)
    monkeypatch.setattr(winograd, "BLOCK_BYTES", 4 * scheme.tile**2 * 8 * 3)  # a few per block
    blocked = winograd_conv3x3(x, weight, bias, scheme)
    _assert_conv(blocked, whole)  # the same sums, rounded in another order
    _assert_conv(blocked, F.conv2d(x, weight, bias, padding=1))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("rows_per_band", [2, 3])
def test_uneven_bands_pad_their_own_rows(scheme: Scheme, rows_per_band: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    x, weight, bias = _data(2, 6, 5, 28, 12, seed=6)  # 14 or 7 tile rows: a short last band
    row_bytes = scheme.tile**2 * 6 * 2 * (12 // scheme.m) * 4  # one tile row, transformed
    monkeypatch.setattr(winograd, "BLOCK_BYTES", rows_per_band * row_bytes)
    _assert_conv(winograd_conv3x3(x, weight, bias, scheme),
                 F.conv2d(x, weight, bias, padding=1))
