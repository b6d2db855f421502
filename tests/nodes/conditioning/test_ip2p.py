"""InstructPixToPixConditioning: values by hand on a tiny VAE, and sampling workflows with an
8-channel InstructPix2Pix checkpoint (which loads, and sees the image) and a plain 4-channel one
(which ignores it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.guidance.cond import Cond
from nodes.conditioning.ip2p import InstructPixToPixConditioning
from nodes.payloads import DiffusionModel, Latent, Vae
from nodes.vae.nodes import VAEEncode
from tests.nodes.models.support import Ctx, ModelEnv, TinyStore, encode, loader


@pytest.fixture
def vae(env: ModelEnv, tiny: TinyStore) -> Vae:
    env.place(tiny.path("sd15-ip2p"), "checkpoints", "m.safetensors")
    payload = env.probe({"1": loader("m.safetensors")}, "1", 2)
    assert isinstance(payload, Vae)
    return payload


def test_ip2p_conditioning_by_hand(vae: Vae) -> None:
    pixels = torch.rand((1, 20, 28, 3), generator=torch.Generator().manual_seed(4))
    positive, negative = (Cond(torch.zeros((1, 2, 4))),), (Cond(torch.ones((1, 2, 4))),)
    pos, neg, latent = InstructPixToPixConditioning().run(Ctx(), positive, negative, vae,
                                                          pixels)
    (encoded,) = VAEEncode().run(Ctx(), pixels, vae)  # cropped to 16 x 24, centred
    assert encoded.samples.shape == (1, 4, 2, 3)
    for entry in (*pos, *neg):
        assert torch.equal(entry.concat_latent_image, encoded.samples)
    assert torch.equal(latent.samples, torch.zeros_like(encoded.samples))
    assert latent.noise_mask is None and positive[0].concat_latent_image is None


def _workflow(with_image: bool) -> dict[str, Any]:
    sampler = {"seed": 3, "steps": 2, "cfg": 4.0, "sampler_name": "euler",
               "scheduler": "normal", "denoise": 1.0}
    prompt: dict[str, Any] = {
        "1": loader("m.safetensors"), "2": encode("make it blue", ["1", 1]),
        "3": encode("", ["1", 1]),
        "4": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "5": {"class_type": "InstructPixToPixConditioning", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "vae": ["1", 2], "pixels": ["4", 0]}},
    }
    links = ({"positive": ["5", 0], "negative": ["5", 1]} if with_image else
             {"positive": ["2", 0], "negative": ["3", 0]})
    prompt["9"] = {"class_type": "KSampler", "inputs": {"model": ["1", 0], **sampler, **links,
                                                        "latent_image": ["5", 2]}}
    return prompt


@pytest.mark.parametrize("arch, channels", [("sd15-ip2p", 8), ("sd15", 4)])
def test_ip2p_workflows(env: ModelEnv, tiny: TinyStore, arch: str, channels: int) -> None:
    env.place(tiny.path(arch), "checkpoints", "m.safetensors")  # type: ignore[arg-type]
    ys, xs = np.mgrid[0:64, 0:64]
    rgb = np.stack([xs * 4, ys * 4, (xs + ys) * 2], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(env.folders.input / "photo.png")
    model = env.probe(_workflow(True), "1")
    assert isinstance(model, DiffusionModel) and model.in_channels == channels
    edited: Latent = env.probe(_workflow(True), "9")
    plain: Latent = env.probe(_workflow(False), "9")
    assert edited.samples.shape == (1, 4, 8, 8) and torch.isfinite(edited.samples).all()
    # an InstructPix2Pix model sees the image's latent (zeros without it); others ignore it
    assert torch.equal(edited.samples, plain.samples) is (channels == 4)
