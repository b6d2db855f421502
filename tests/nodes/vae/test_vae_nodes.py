"""VAE nodes on a tiny checkpoint's VAE: shapes, crop to multiples of 8, alpha, inpainting
mask growth and grey fill, tiled equal to untiled when one tile covers the input."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nodes.payloads import Latent, Vae
from nodes.vae.nodes import (
    VAEDecode,
    VAEDecodeTiled,
    VAEEncode,
    VAEEncodeForInpaint,
    VAEEncodeTiled,
    grow_mask,
)
from tests.nodes.models.support import Ctx, ModelEnv, TinyStore, loader


@pytest.fixture
def vae(env: ModelEnv, tiny: TinyStore) -> Vae:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    payload = env.probe({"1": loader("m.safetensors")}, "1", 2)
    assert isinstance(payload, Vae)
    return payload


def image(b: int, h: int, w: int, c: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand((b, h, w, c), generator=torch.Generator().manual_seed(seed))


def run(node: type, *args: Any) -> Any:
    (out,) = node().run(Ctx(), *args)
    return out


def test_encode_decode_shapes_and_crop_to_8(vae: Vae, env: ModelEnv) -> None:
    pixels = image(2, 70, 75)
    encoded = run(VAEEncode, pixels, vae)
    assert isinstance(encoded, Latent) and encoded.samples.shape == (2, 4, 8, 9)
    assert encoded.noise_mask is None and encoded.samples.dtype == torch.float32
    cropped = run(VAEEncode, pixels[:, 3:67, 1:73].clone(), vae)  # centred crop, as ComfyUI
    assert torch.equal(encoded.samples, cropped.samples)
    decoded = run(VAEDecode, encoded, vae)
    assert decoded.shape == (2, 64, 72, 3) and 0.0 <= decoded.min() and decoded.max() <= 1.0
    assert env.manager.loads == 1  # the VAE's weights, read once for both


def test_encode_drops_alpha(vae: Vae) -> None:
    rgba = image(1, 16, 16, c=4)
    with_alpha = run(VAEEncode, rgba, vae).samples
    assert torch.equal(with_alpha, run(VAEEncode, rgba[..., :3].clone(), vae).samples)


def test_image_smaller_than_a_latent_is_refused(vae: Vae) -> None:
    with pytest.raises(ValueError, match="VAEEncode input 'pixels'.*smaller than one latent"):
        run(VAEEncode, image(1, 7, 16), vae)


def test_grow_mask_box_filters_the_rounded_mask() -> None:
    mask = torch.zeros((1, 1, 64, 64))
    mask[0, 0, 20, 30] = 0.6  # rounds to 1
    grown = grow_mask(mask, 6)[:, :, :64, :64]
    expected = torch.zeros((64, 64))
    expected[18:24, 28:34] = 1.0  # kernel 6, padding 3: rows 20-2 .. 20+3
    assert torch.equal(grown[0, 0], expected)
    odd = grow_mask(mask, 3)
    assert odd.shape == (1, 1, 64, 64) and odd[0, 0].sum() == 9
    assert grow_mask(mask, 0) is mask


def test_encode_for_inpaint_greys_the_mask_and_sets_the_noise_mask(vae: Vae) -> None:
    pixels = image(1, 64, 64)
    mask = torch.zeros((64, 64))
    mask[20, 30] = 1.0
    out = run(VAEEncodeForInpaint, pixels, vae, mask, 6)
    grey = pixels.clone()
    grey[:, 20, 30, :] = 0.5
    assert torch.equal(out.samples, run(VAEEncode, grey, vae).samples)
    assert out.noise_mask.shape == (1, 1, 64, 64)
    assert out.noise_mask.sum() == 36 and out.noise_mask[0, 0, 18:24, 28:34].all()
    assert pixels[0, 20, 30, 0] != 0.5  # the input image is untouched


def test_encode_for_inpaint_resizes_the_mask_and_crops_to_8(vae: Vae) -> None:
    pixels = image(1, 70, 75)
    mask = torch.ones((1, 35, 25))  # lower resolution: resized bilinearly to 70 x 75
    out = run(VAEEncodeForInpaint, pixels, vae, mask, 0)
    assert out.samples.shape == (1, 4, 8, 9) and out.noise_mask.shape == (1, 1, 64, 72)
    assert out.noise_mask.all()
    all_grey = torch.full((1, 64, 72, 3), 0.5)
    assert torch.equal(out.samples, run(VAEEncode, all_grey, vae).samples)


def test_tiled_equals_untiled_when_one_tile_covers(vae: Vae) -> None:
    pixels = image(1, 64, 48)
    full = run(VAEEncode, pixels, vae)
    tiled = run(VAEEncodeTiled, pixels, vae, 512, 64, 64, 8)
    assert torch.allclose(tiled.samples, full.samples, atol=1e-6)
    decoded = run(VAEDecode, full, vae)
    decoded_tiled = run(VAEDecodeTiled, full, vae, 512, 64, 64, 8)
    assert torch.allclose(decoded_tiled, decoded, atol=1e-6)


def test_small_tiles_blend_to_the_full_size(vae: Vae) -> None:
    latent = Latent(torch.randn((1, 4, 20, 12), generator=torch.Generator().manual_seed(4)))
    decoded = run(VAEDecodeTiled, latent, vae, 64, 32, 64, 8)  # 8-latent tiles, overlap 2
    assert decoded.shape == (1, 160, 96, 3) and torch.isfinite(decoded).all()
    encoded = run(VAEEncodeTiled, image(1, 160, 96), vae, 64, 32, 64, 8)
    assert encoded.samples.shape == (1, 4, 20, 12)


def test_encode_decode_through_the_engine(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sdxl"), "checkpoints", "xl.safetensors")
    prompt = {
        "1": loader("xl.safetensors"),
        "2": {"class_type": "EmptyImage", "inputs": {"width": 40, "height": 24,
                                                     "batch_size": 2, "color": 0x808080}},
        "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["1", 2]}},
        "4": {"class_type": "VAEDecodeTiled", "inputs": {
            "samples": ["3", 0], "vae": ["1", 2], "tile_size": 512, "overlap": 64,
            "temporal_size": 64, "temporal_overlap": 8}},
    }
    assert env.probe(prompt, "3").samples.shape == (2, 4, 3, 5)
    assert env.probe(prompt, "4").shape == (2, 24, 40, 3)
