"""The maths of the UNet block patches on small tensors, against hand-computed expectations:
FreeU's Fourier filter and backbone factors (v1 and v2), FreSca's band scaling, and Kohya Deep
Shrink's resize window."""

from __future__ import annotations

import torch
from torch import Tensor

from diffusion.model_patches import DeepShrinkDown, DeepShrinkUp, FreeU
from diffusion.model_patches.fourier import band_scale, freeu_filter
from diffusion.model_patches.freeu import freeu_v2_factor
from diffusion.unet import BlockInfo

MC = 4  # model channels of the pretend UNet


def checkerboard(size: int) -> Tensor:
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return ((-1.0) ** (ys + xs))[None, None]  # (1, 1, size, size): only the Nyquist frequency


def info(block: tuple[str, int] = ("output", 0), sigma: float | None = None) -> BlockInfo:
    sigmas = None if sigma is None else torch.tensor([sigma])
    return BlockInfo(block, (1, 4, 8, 8), MC, sigmas)


def test_freeu_filter_scales_only_the_lowest_frequencies() -> None:
    # a constant is all DC (inside the 2x2 centre box); the checkerboard is the highest
    # frequency (outside it): filter(c + checker) = s * c + checker
    image = 3.0 + checkerboard(8)
    out = freeu_filter(image, threshold=1, scale=0.25)
    assert torch.allclose(out, 0.75 + checkerboard(8), atol=1e-5)
    assert out.dtype == image.dtype


def test_band_scale_splits_low_and_high_frequencies() -> None:
    image = 3.0 + checkerboard(8)
    # cutoff 1: the centred 2x2 box is low (DC is in it), the checkerboard (index 0) is high
    out = band_scale(image, scale_low=2.0, scale_high=0.5, cutoff=1)
    assert torch.allclose(out, 6.0 + 0.5 * checkerboard(8), atol=1e-5)
    # a cutoff beyond the size makes everything low
    assert torch.allclose(band_scale(image, 2.0, 0.5, 100), 2.0 * image, atol=1e-5)


def test_freeu_v1_scales_half_the_backbone_and_filters_the_skip() -> None:
    patch = FreeU(b1=1.5, b2=3.0, s1=0.5, s2=0.25)
    h = torch.ones(1, 4 * MC, 2, 2)
    skip = torch.full((1, 4 * MC, 2, 2), 2.0)
    new_h, new_skip = patch(h, skip, info())
    half = 2 * MC
    assert torch.equal(new_h[:, :half], torch.full((1, half, 2, 2), 1.5))
    assert torch.equal(new_h[:, half:], h[:, half:])
    assert torch.allclose(new_skip, torch.full_like(skip, 1.0))  # constant: DC x s1
    assert torch.equal(h, torch.ones(1, 4 * MC, 2, 2))  # inputs untouched
    # 2 x model channels: (b2, s2); other widths: untouched
    mid_h, mid_skip = patch(torch.ones(1, 2 * MC, 2, 2), torch.ones(1, 2 * MC, 2, 2), info())
    assert float(mid_h[0, 0, 0, 0]) == 3.0 and float(mid_h[0, -1, 0, 0]) == 1.0
    assert torch.allclose(mid_skip, torch.full_like(mid_skip, 0.25))
    same = patch(torch.ones(1, MC, 2, 2), skip[:, :MC], info())
    assert torch.equal(same[0], torch.ones(1, MC, 2, 2)) and torch.equal(same[1], skip[:, :MC])


def test_freeu_v2_weights_the_backbone_by_the_normalised_channel_mean() -> None:
    # two pixels: channel means 1 and 3 -> normalised 0 and 1 -> factors 1 and b
    h = torch.tensor([[[[0.0, 2.0]], [[2.0, 4.0]]]])  # (1, 2, 1, 2)
    assert torch.equal(freeu_v2_factor(h, 2.5), torch.tensor([[[[1.0, 2.5]]]]))
    patch = FreeU(b1=1.0, b2=2.5, s1=1.0, s2=1.0, version=2)
    wide = torch.cat([h] * MC, dim=1)  # (1, 2 * MC, 1, 2): the (b2, s2) level, same means
    new_h, _ = patch(wide, torch.ones_like(wide), info())
    assert torch.equal(new_h[:, :MC, :, 0], wide[:, :MC, :, 0])  # factor 1
    assert torch.equal(new_h[:, :MC, :, 1], wide[:, :MC, :, 1] * 2.5)
    assert torch.equal(new_h[:, MC:], wide[:, MC:])


def nearest(x: Tensor, width: int, height: int) -> Tensor:
    return torch.nn.functional.interpolate(x, size=(height, width), mode="nearest")


def test_deep_shrink_downscales_one_block_inside_its_sigma_window() -> None:
    down = DeepShrinkDown(block_number=3, downscale_factor=2.0, sigma_start=10.0,
                          sigma_end=1.0, resize=nearest)
    h = torch.arange(64.0).reshape(1, 1, 8, 8)
    assert down(h, info(("input", 3), 5.0)).shape == (1, 1, 4, 4)
    assert down(h, info(("input", 3), 10.0)).shape == (1, 1, 4, 4)  # bounds inclusive
    assert down(h, info(("input", 3), 1.0)).shape == (1, 1, 4, 4)
    assert down(h, info(("input", 3), 10.5)) is h  # before the window
    assert down(h, info(("input", 3), 0.5)) is h  # after it
    assert down(h, info(("input", 2), 5.0)) is h  # another block
    # ComfyUI's rounding: round(7 * (1 / 3)) = 2, round(9 * (1 / 3)) = 3
    odd = DeepShrinkDown(1, 3.0, 10.0, 0.0, nearest)(torch.zeros(1, 1, 9, 7),
                                                      info(("input", 1), 1.0))
    assert odd.shape == (1, 1, 3, 2)


def test_deep_shrink_brings_h_back_to_the_skips_size() -> None:
    up = DeepShrinkUp(nearest)
    h, skip = torch.ones(1, 2, 4, 4), torch.zeros(1, 3, 8, 8)
    new_h, new_skip = up(h, skip, info())
    assert new_h.shape == (1, 2, 8, 8) and new_skip is skip
    same = torch.ones(1, 2, 8, 8)
    assert up(same, skip, info())[0] is same
