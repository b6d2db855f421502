"""The torch Canny equals kornia's (what ComfyUI's Canny node calls) where kornia is importable;
it is not a dependency of the engine, so that comparison skips without it. The edge geometry is
checked on a synthetic image everywhere."""

from __future__ import annotations

import pytest
import torch

from diffusion.control import canny


def _images() -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 80), indexing="ij")
    smooth = torch.stack([torch.sin(6 * xs + 3 * ys) * 0.5 + 0.5, (xs > 0.4).float() * 0.7,
                          ((xs - 0.5) ** 2 + (ys - 0.5) ** 2 < 0.1).float()])[None]
    noisy = torch.rand(1, 3, 96, 80, generator=torch.Generator().manual_seed(0))
    return torch.cat([smooth, noisy])  # (2, 3, 96, 80)


def test_square_gives_a_closed_outline() -> None:
    image = torch.zeros(1, 1, 32, 32)
    image[..., 8:24, 8:24] = 1.0
    edges = canny(image, 0.4, 0.8)[0, 0]
    assert set(edges.unique().tolist()) == {0.0, 1.0}
    assert edges[:4].sum() == 0 and edges[:, :4].sum() == 0  # nothing far from the square
    assert edges[14:18, 14:18].sum() == 0  # nothing inside the flat centre
    assert edges[15, 5:11].sum() >= 1 and edges[15, 21:27].sum() >= 1  # left and right sides
    assert edges[5:11, 15].sum() >= 1 and edges[21:27, 15].sum() >= 1  # top and bottom


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="0 < low <= high"):
        canny(torch.zeros(1, 3, 8, 8), 0.8, 0.4)


@pytest.mark.parametrize(("low", "high"), [(0.4, 0.8), (0.1, 0.2), (0.05, 0.9)])
def test_matches_kornia(low: float, high: float) -> None:
    kornia = pytest.importorskip("kornia", reason="kornia is a reference only, not installed")
    images = _images()
    want = kornia.filters.canny(images, low, high)[1]
    assert torch.equal(canny(images, low, high), want)
