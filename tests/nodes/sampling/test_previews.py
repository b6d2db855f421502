"""``diffusion.previews``: ComfyUI's latent→RGB factors per family, the (x + 1) / 2 mapping,
the first sample only, and named errors."""

from __future__ import annotations

import pytest
import torch

from diffusion.previews import (
    LATENT_RGB,
    MAX_PREVIEW_RESOLUTION,
    latent_to_rgb,
    preview_frame,
    preview_image,
)


def test_one_channel_at_a_time_gives_its_factor_row() -> None:
    x0 = torch.zeros((2, 4, 3, 5))
    x0[0, 3] = 1.0  # channel 4 of the first sample only
    x0[1] = 9.0  # the second sample is not previewed
    rgb = latent_to_rgb(x0, "sd1")
    assert rgb.shape == (3, 5, 3) and rgb.dtype == torch.uint8
    expected = [int((v + 1) / 2 * 255) for v in (-0.2120, -0.2616, -0.7177)]
    assert rgb[0, 0].tolist() == expected


def test_sdxl_adds_its_bias_and_values_clamp() -> None:
    rgb = latent_to_rgb(torch.zeros((1, 4, 2, 2)), "sdxl")
    assert rgb[0, 0].tolist() == [int((b + 1) / 2 * 255) for b in (0.1084, -0.0175, -0.0011)]
    assert latent_to_rgb(torch.full((1, 4, 1, 1), 100.0), "sdxl_refiner").max() == 255


def test_families_share_comfyui_tables() -> None:
    assert LATENT_RGB["sd1"] == LATENT_RGB["sd2"]
    assert LATENT_RGB["sdxl"] == LATENT_RGB["sdxl_refiner"]
    assert LATENT_RGB["sd1"][0][0] == (0.3512, 0.2297, 0.3227)
    assert LATENT_RGB["sdxl"][0][0] == (0.3651, 0.4232, 0.4341)


def test_preview_image_is_rgb_per_latent_cell() -> None:
    image = preview_image(torch.randn((1, 4, 6, 10)), "sd2")
    assert image.mode == "RGB" and image.size == (10, 6)


def test_preview_frame_asks_for_comfyuis_display_size() -> None:
    fmt, image, size = preview_frame(torch.randn((1, 4, 16, 24)), "sd1")
    assert (fmt, size, MAX_PREVIEW_RESOLUTION) == ("JPEG", 512, 512)
    assert image.size == (24, 16)  # one pixel per cell; the encoder fits it into 512 px


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="family 'flux'"):
        latent_to_rgb(torch.zeros((1, 4, 2, 2)), "flux")
    with pytest.raises(ValueError, match="previews 4 latent channels, got 16"):
        latent_to_rgb(torch.zeros((1, 16, 2, 2)), "sd1")
    with pytest.raises(ValueError, match=r"\(B, C, h, w\)"):
        latent_to_rgb(torch.zeros((4, 2, 2)), "sd1")
