"""SDXL's ADM input equals diffusers' ``text_embeds`` + ``add_time_proj(time_ids)`` concatenation
(what ``UNet2DConditionModel`` feeds ``add_embedding``), with ComfyUI's CLIPTextEncode defaults
and the refiner's aesthetic scores; a tiny SDXL UNet samples with it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from _guidance_testlib import POOLED, ToyUNet, tiny_model, toy_model

from diffusion.guidance import Cond, encode_adm
from tests.diffusion.ksampler_recipe import ksample

diffusers = pytest.importorskip("diffusers")


def _reference_unet(time_ids_count: int) -> Any:
    config = {
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["DownBlock2D"],
        "up_block_types": ["UpBlock2D"],
        "block_out_channels": [32],
        "layers_per_block": 1,
        "cross_attention_dim": 32,
        "norm_num_groups": 8,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": POOLED + time_ids_count * 256,
    }
    return diffusers.UNet2DConditionModel(**config).eval()


def _diffusers_add_embeds(unet: Any, pooled: torch.Tensor, time_ids: torch.Tensor) -> torch.Tensor:
    """The exact tensor diffusers hands to ``add_embedding`` (captured by a pre-hook)."""
    captured: list[torch.Tensor] = []
    handle = unet.add_embedding.register_forward_pre_hook(
        lambda _m, args: captured.append(args[0].clone())
    )
    emb = torch.zeros(pooled.shape[0], unet.time_embedding.linear_1.out_features)
    kwargs = {"text_embeds": pooled, "time_ids": time_ids}
    with torch.no_grad():
        unet.get_aug_embed(emb=emb, encoder_hidden_states=None, added_cond_kwargs=kwargs)
    handle.remove()
    return captured[0]


def _pooled(seed: int = 0) -> torch.Tensor:
    return torch.randn(1, POOLED, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("fields", "original", "crop", "target"),
    [
        ({}, (64, 96), (0, 0), (64, 96)),  # plain CLIPTextEncode on an 8 x 12 latent
        (
            dict(width=1024, height=768, crop_w=16, crop_h=8, target_width=512, target_height=640),
            (768, 1024),
            (8, 16),
            (640, 512),
        ),
    ],
)
def test_sdxl_adm_matches_diffusers(
    fields: dict, original: tuple, crop: tuple, target: tuple
) -> None:
    from diffusers import StableDiffusionXLPipeline

    unet = _reference_unet(6)
    pooled = _pooled()
    time_ids = StableDiffusionXLPipeline._get_add_time_ids(
        SimpleNamespace(unet=unet), original, crop, target, torch.float32, POOLED
    )
    expected = _diffusers_add_embeds(unet, pooled, time_ids)
    ours = encode_adm(Cond(torch.zeros(1, 3, 8), pooled, **fields), "sdxl", "positive", 8, 12)
    assert ours is not None and ours.shape == (1, POOLED + 6 * 256)
    assert torch.equal(ours, expected)


@pytest.mark.parametrize("side", ["positive", "negative"])
def test_refiner_adm_matches_diffusers_aesthetic_defaults(side: str) -> None:
    from diffusers import StableDiffusionXLImg2ImgPipeline

    unet = _reference_unet(5)
    pooled = _pooled(1)
    size, crop = (1024, 1024), (0, 0)
    pipe = SimpleNamespace(unet=unet, config=SimpleNamespace(requires_aesthetics_score=True))
    time_ids, neg_time_ids = StableDiffusionXLImg2ImgPipeline._get_add_time_ids(
        pipe, size, crop, size, 6.0, 2.5, size, crop, size, torch.float32, POOLED
    )
    expected = _diffusers_add_embeds(unet, pooled, time_ids if side == "positive" else neg_time_ids)
    cond = Cond(torch.zeros(1, 3, 8), pooled, width=1024, height=1024)
    ours = encode_adm(cond, "sdxl_refiner", side, 128, 128)  # type: ignore[arg-type]
    assert ours is not None and torch.equal(ours, expected)


def test_adm_needs_pooled_output() -> None:
    with pytest.raises(ValueError, match="pooled_output"):
        encode_adm(Cond(torch.zeros(1, 3, 8)), "sdxl", "positive", 8, 8)


def test_each_entry_gets_its_own_adm_in_the_batch() -> None:
    unet = ToyUNet()
    positive = (Cond(torch.zeros(1, 3, 8), _pooled(2), width=512),)
    negative = (Cond(torch.zeros(1, 3, 8), _pooled(3), width=256),)
    ksample(
        toy_model(unet, adm="sdxl"), torch.zeros(1, 4, 4, 4), positive, negative,
        seed=0, cfg=2.0, sampler_name="euler", steps=1,
    )  # fmt: skip
    y = unet.calls[0].kwargs["y"]
    assert y.shape == (2, POOLED + 6 * 256)
    rows = {float(r[0]): r for r in y}
    for cond in positive + negative:
        expected = encode_adm(cond, "sdxl", "positive", 4, 4)
        assert expected is not None and torch.equal(rows[float(expected[0, 0])], expected[0])


def test_tiny_sdxl_unet_samples() -> None:
    model = tiny_model("sdxl")
    cond = Cond(torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(0)), _pooled())
    uncond = Cond(torch.zeros(1, 77, 32), torch.zeros(1, POOLED))
    out = ksample(
        model, torch.zeros(1, 4, 8, 8), (cond,), (uncond,), seed=5, cfg=6.0,
        sampler_name="dpmpp_2m", scheduler="karras", steps=3,
    )  # fmt: skip
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
