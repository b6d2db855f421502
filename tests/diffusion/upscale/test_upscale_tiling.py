"""ComfyUI's tiled scaling: positions, feathering, single tile ≡ untiled, blended tiles close
to untiled, and the out-of-memory fallback 512 → 256 → 128."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from diffusion.upscale import UpscaleModel, tiled_scale, upscale_pixels
from diffusion.upscale.loading import model_from_state_dict
from diffusion.upscale.tiling import (
    UpscaleOutOfMemoryError,
    edge_weights,
    tile_count,
    tile_starts,
    tiled_scale_with_fallback,
)
from tests.diffusion.upscale.upscale_support import esrgan_state, pixels

CPU = torch.device("cpu")


def double(x: Tensor) -> Tensor:
    """A pointwise ×2 'model': nearest upscaling."""
    return x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


@pytest.fixture(scope="module")
def tiny() -> UpscaleModel:
    return model_from_state_dict(esrgan_state(seed=5), "tiny.pth")


def test_tile_positions_and_counts_are_comfyuis() -> None:
    assert tile_starts(1000, 512, 32) == [0, 480, 960]  # the last tile is 40 wide
    assert tile_starts(512, 512, 32) == [0]
    assert tile_count(1000, 300, 512, 32) == 3  # ceil((1000 − 32) / 480) · 1
    assert edge_weights(8, 3, CPU).tolist() == pytest.approx([1 / 3, 2 / 3, 1, 1, 1, 1,
                                                              2 / 3, 1 / 3])
    assert edge_weights(3, 3, CPU).tolist() == [1, 1, 1]  # not longer than the ramp


def test_one_tile_is_exactly_the_untiled_model(tiny: UpscaleModel) -> None:
    image = pixels(20, 16).movedim(-1, 1)  # (1, 3, 20, 16)
    tiled = tiled_scale(image, tiny.descriptor, tile=20, overlap=4, scale=4, out_channels=3)
    assert torch.equal(tiled, tiny.descriptor(image))


def test_blended_tiles_match_a_pointwise_model_and_stay_close_for_a_network(
        tiny: UpscaleModel) -> None:
    image = pixels(40, 36, batch=2).movedim(-1, 1)  # (2, 3, 40, 36)
    seen: list[tuple[int, int]] = []
    blended = tiled_scale(image, double, tile=16, overlap=4, scale=2, out_channels=3,
                          on_tile=lambda done, total: seen.append((done, total)))
    assert torch.allclose(blended, double(image), atol=1e-6)
    assert seen[-1] == (18, 18)  # 2 images × 3 × 3 tiles
    # RRDBNet sees ~20 pixels around each one, more than the 8-pixel overlap, so the blended
    # seams differ a little. Measured (outputs' std 0.27): mean |Δ| 1.6e-3, max 0.051, 4.6 % of
    # values off by more than 0.01. Bounds: mean 5e-3, max 0.1.
    full = tiny.descriptor(image[:1])
    tiled = tiled_scale(image[:1], tiny.descriptor, tile=24, overlap=8, scale=4, out_channels=3)
    difference = (tiled - full).abs()
    assert difference.mean() < 5e-3 and difference.max() < 0.1


def test_out_of_memory_halves_the_tile_down_to_128() -> None:
    sizes: list[int] = []

    def picky(x: Tensor) -> Tensor:
        sizes.append(max(x.shape[-2:]))
        if max(x.shape[-2:]) > 128:
            raise torch.OutOfMemoryError("CUDA out of memory (test)")
        return double(x)

    image = torch.rand(1, 3, 300, 260)
    retries: list[int] = []
    out = tiled_scale_with_fallback(image, picky, scale=2, out_channels=3,
                                    on_oom=retries.append)
    assert retries == [256, 128] and sizes[:2] == [300, 256]
    assert torch.allclose(out, double(image), atol=1e-6)

    def never(x: Tensor) -> Tensor:
        raise MemoryError("no host memory (test)")

    with pytest.raises(UpscaleOutOfMemoryError, match="even with 128-pixel tiles"):
        tiled_scale_with_fallback(image, never, scale=2, out_channels=3)


def test_rgba_keeps_a_bilinear_alpha_and_wrong_channels_are_refused(tiny: UpscaleModel) -> None:
    rgba = pixels(6, 5, channels=4)
    out = upscale_pixels(tiny, rgba, CPU)
    assert out.shape == (1, 24, 20, 4)
    assert torch.equal(out[..., :3], upscale_pixels(tiny, rgba[..., :3], CPU))
    alpha = torch.nn.functional.interpolate(rgba[..., 3:].movedim(-1, 1), size=(24, 20),
                                            mode="bilinear").movedim(1, -1)
    assert torch.equal(out[..., 3:], alpha)
    with pytest.raises(ValueError, match="2 channels but upscale model 'tiny.pth'"):
        upscale_pixels(tiny, pixels(4, 4, channels=2), CPU)
