"""SD_4XUpscale_Conditioning by hand, and the SD x4 upscaler end to end on a tiny random
checkpoint: CheckpointLoaderSimple detects it, KSampler samples its 7-channel UNet with the
low-res image and noise level, its 3-level VAE decodes 4x."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.guidance.cond import Cond
from diffusion.guidance.shapes import upscale_center
from nodes.conditioning.sd_upscale import SD_4XUpscale_Conditioning
from nodes.payloads import DiffusionModel, Latent, Vae
from tests.nodes.models.support import Ctx, ModelEnv, TinyStore, encode, loader


def test_conditioning_by_hand() -> None:
    images = torch.rand((2, 10, 14, 4), generator=torch.Generator().manual_seed(1))
    positive = (Cond(torch.zeros((1, 2, 4))),)
    negative = (Cond(torch.ones((1, 2, 4))), Cond(torch.ones((1, 3, 4))))
    pos, neg, latent = SD_4XUpscale_Conditioning().run(Ctx(), images, positive, negative, 2.0,
                                                        0.25)
    assert isinstance(latent, Latent) and latent.samples.shape == (2, 4, 5, 7)
    assert not latent.samples.any()
    want = upscale_center(images[..., :3].movedim(-1, 1) * 2.0 - 1.0, 5, 7)
    assert len(pos) == 1 and len(neg) == 2
    for entry in (*pos, *neg):
        assert torch.equal(entry.concat_image, want) and entry.noise_augmentation == 0.25
    assert positive[0].concat_image is None and negative[0].noise_augmentation == 0.0
    assert torch.equal(pos[0].cross_attn, positive[0].cross_attn)


def test_too_small_output_is_refused() -> None:
    with pytest.raises(ValueError, match="under one 4x4 latent sample"):
        SD_4XUpscale_Conditioning().run(Ctx(), torch.zeros((1, 2, 2, 3)), (), (), 1.0, 0.0)


def _write_photo(env: ModelEnv) -> None:
    ys, xs = np.mgrid[0:16, 0:16]
    rgb = np.stack([xs * 16, ys * 16, (xs + ys) * 8], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(env.folders.input / "small.png")


def _workflow(noise_augmentation: float, seed: int = 3,
              image: str = "small.png") -> dict[str, Any]:
    return {
        "1": loader("x4.safetensors"),
        "2": encode("a sharp photo", ["1", 1]),
        "3": encode("blurry", ["1", 1]),
        "4": {"class_type": "LoadImage", "inputs": {"image": image}},
        "5": {"class_type": "SD_4XUpscale_Conditioning", "inputs": {
            "images": ["4", 0], "positive": ["2", 0], "negative": ["3", 0],
            "scale_ratio": 4.0, "noise_augmentation": noise_augmentation}},
        "6": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": 2, "cfg": 4.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0, "positive": ["5", 0], "negative": ["5", 1],
            "latent_image": ["5", 2]}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
    }


def test_x4_upscale_end_to_end(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd-x4-upscaler"), "checkpoints", "x4.safetensors")
    _write_photo(env)
    model: DiffusionModel = env.probe({"1": loader("x4.safetensors")}, "1", 0)
    vae: Vae = env.probe({"1": loader("x4.safetensors")}, "1", 2)
    assert model.family == "sd_x4_upscaler" and model.in_channels == 7
    assert model.model_sampling.prediction == "v_prediction"
    assert model.latent_format.scale_factor == 0.08333 and vae.downscale == 4
    image = env.probe(_workflow(0.0), "7")
    assert image.shape == (1, 64, 64, 3) and torch.isfinite(image).all()
    again = env.probe(_workflow(0.0), "7")
    assert torch.equal(image, again)
    latent: Latent = env.probe(_workflow(0.0), "6")
    noised: Latent = env.probe(_workflow(0.3), "6")
    other_seed: Latent = env.probe(_workflow(0.3, seed=4), "6")
    assert latent.samples.shape == (1, 4, 16, 16)
    assert not torch.equal(latent.samples, noised.samples)
    assert not torch.equal(noised.samples, other_seed.samples)


def test_the_low_res_image_steers_the_upscale(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd-x4-upscaler"), "checkpoints", "x4.safetensors")
    _write_photo(env)
    Image.fromarray(np.full((16, 16, 3), 128, dtype=np.uint8)).save(env.folders.input / "g.png")
    photo: Latent = env.probe(_workflow(0.0), "6")
    grey: Latent = env.probe(_workflow(0.0, image="g.png"), "6")
    assert not torch.equal(photo.samples, grey.samples)
