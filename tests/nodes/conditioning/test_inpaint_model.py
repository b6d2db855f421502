"""ConditioningSetAreaStrength and InpaintModelConditioning: values by hand on a tiny VAE, and
sampling workflows with a 9-channel inpainting model and a plain 4-channel one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from diffusion.guidance.cond import Area, Cond
from nodes.conditioning.area_strength import ConditioningSetAreaStrength
from nodes.conditioning.inpaint import InpaintModelConditioning
from nodes.payloads import Latent, Vae
from nodes.vae.nodes import VAEEncode
from tests.nodes.models.support import Ctx, ModelEnv, TinyStore, encode, loader


def test_area_strength_sets_every_entrys_weight_and_keeps_its_area() -> None:
    entries = (Cond(torch.zeros((1, 2, 4)), area=Area(2, 2)), Cond(torch.ones((1, 2, 4))))
    (out,) = ConditioningSetAreaStrength().run(Ctx(), entries, 2.5)
    assert [c.strength for c in out] == [2.5, 2.5] and out[0].area == Area(2, 2)
    assert out[1].cross_attn is entries[1].cross_attn and entries[0].strength == 1.0


@pytest.fixture
def vae(env: ModelEnv, tiny: TinyStore) -> Vae:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    payload = env.probe({"1": loader("m.safetensors")}, "1", 2)
    assert isinstance(payload, Vae)
    return payload


def test_inpaint_conditioning_by_hand(vae: Vae) -> None:
    gen = torch.Generator().manual_seed(4)
    pixels = torch.rand((1, 20, 28, 3), generator=gen)  # cropped to 16 x 24 from (2, 2)
    mask = torch.zeros((20, 28))
    mask[:, 14:] = 1.0  # repaint the right half
    positive, negative = (Cond(torch.zeros((1, 2, 4))),), (Cond(torch.ones((1, 2, 4))),)
    pos, neg, latent = InpaintModelConditioning().run(Ctx(), positive, negative, vae, pixels,
                                                      mask, True)
    (encoded,) = VAEEncode().run(Ctx(), pixels, vae)
    assert torch.equal(latent.samples, encoded.samples)  # the image as it is
    expected_mask = mask[2:18, 2:26].reshape(1, 1, 16, 24)
    assert torch.equal(latent.noise_mask, expected_mask)
    grey = pixels[:, 2:18, 2:26].clone()
    grey[:, :, 12:] = 0.5  # masked pixels (columns 14.. of the image) become grey
    (masked,) = VAEEncode().run(Ctx(), grey, vae)
    for entry in (*pos, *neg):
        assert torch.equal(entry.concat_latent_image, masked.samples)
        assert torch.equal(entry.concat_mask, expected_mask)
    assert positive[0].concat_latent_image is None  # inputs untouched
    *_, without = InpaintModelConditioning().run(Ctx(), positive, negative, vae, pixels, mask,
                                                 False)
    assert without.noise_mask is None


def test_inpaint_mask_is_resized_bilinearly_to_the_image(vae: Vae) -> None:
    pixels = torch.rand((1, 16, 16, 3), generator=torch.Generator().manual_seed(1))
    small = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    *_, latent = InpaintModelConditioning().run(Ctx(), (), (), vae, pixels, small, True)
    expected = F.interpolate(small.reshape(1, 1, 2, 2), size=(16, 16), mode="bilinear")
    assert torch.equal(latent.noise_mask, expected)


def _write_hole_image(folder: Path) -> None:
    ys, xs = np.mgrid[0:64, 0:64]
    rgb = np.stack([xs * 4, ys * 4, (xs + ys) * 2], axis=-1).astype(np.uint8)
    alpha = np.full((64, 64, 1), 255, dtype=np.uint8)
    alpha[16:48, 16:48] = 0  # LoadImage's mask = 1 - alpha: the hole is repainted
    Image.fromarray(np.concatenate([rgb, alpha], axis=-1)).save(folder / "hole.png")


def _workflow(inpaint_node: bool) -> dict[str, Any]:
    sampler = {"seed": 3, "steps": 2, "cfg": 4.0, "sampler_name": "euler",
               "scheduler": "normal", "denoise": 1.0}
    common = {"1": loader("m.safetensors"), "2": encode("a cat", ["1", 1]),
              "3": encode("", ["1", 1]),
              "4": {"class_type": "LoadImage", "inputs": {"image": "hole.png"}}}
    if inpaint_node:
        prep = {"5": {"class_type": "InpaintModelConditioning", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "vae": ["1", 2], "pixels": ["4", 0],
            "mask": ["4", 1], "noise_mask": True}}}
        links = {"positive": ["5", 0], "negative": ["5", 1], "latent_image": ["5", 2]}
    else:  # the same latent and noise mask, without the inpainting conditioning
        prep = {"5": {"class_type": "VAEEncode", "inputs": {"pixels": ["4", 0], "vae": ["1", 2]}},
                "6": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["5", 0],
                                                                     "mask": ["4", 1]}}}
        links = {"positive": ["2", 0], "negative": ["3", 0], "latent_image": ["6", 0]}
    sample = {"class_type": "KSampler", "inputs": {"model": ["1", 0], **sampler, **links}}
    return {**common, **prep, "9": sample}


@pytest.mark.parametrize("arch, concat_used", [("sd15-inpaint", True), ("sd15", False)])
def test_inpainting_workflows(env: ModelEnv, tiny: TinyStore, arch: str,
                              concat_used: bool) -> None:
    env.place(tiny.path(arch), "checkpoints", "m.safetensors")  # type: ignore[arg-type]
    _write_hole_image(env.folders.input)
    with_node: Latent = env.probe(_workflow(True), "9")
    plain: Latent = env.probe(_workflow(False), "9")
    assert with_node.samples.shape == (1, 4, 8, 8) and torch.isfinite(with_node.samples).all()
    # a 9-channel model sees the grey-masked image's latent; a 4-channel one ignores it
    assert torch.equal(with_node.samples, plain.samples) is not concat_used
