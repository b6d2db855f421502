"""PhotoMaker's ID encoder on tiny random weights: the image tower against transformers'
``CLIPVisionModelWithProjection``, the whole encoder (tower, both projections, fuse module)
against the reference written after TencentARC's published ``photomaker/model.py``
(``tests/diffusion/photomaker/reference.py``), which loads our state dict as it is."""

from __future__ import annotations

import pytest
import torch

from diffusion.photomaker import PhotoMakerConfig, PhotoMakerIDEncoder
from diffusion.vision import CLIPVisionConfig, CLIPVisionModel, clip_preprocess

transformers = pytest.importorskip("transformers")
from tests.diffusion.photomaker.reference import RefPhotoMakerIDEncoder  # noqa: E402

TINY_VISION = CLIPVisionConfig(hidden=64, intermediate=128, heads=2, layers=3, image_size=42,
                               patch_size=14, projection_dim=48)
TINY = PhotoMakerConfig(TINY_VISION, projection_2=80)  # ID width 128


def _hf_config(cfg: CLIPVisionConfig):  # type: ignore[no-untyped-def]
    return transformers.CLIPVisionConfig(
        hidden_size=cfg.hidden, intermediate_size=cfg.intermediate,
        num_attention_heads=cfg.heads, num_hidden_layers=cfg.layers,
        image_size=cfg.image_size, patch_size=cfg.patch_size, projection_dim=cfg.projection_dim,
        hidden_act="quick_gelu")


def test_image_tower_matches_transformers(randomize, rel_err) -> None:
    ours = CLIPVisionModel(TINY_VISION).eval()
    randomize(ours, 31)
    ref = transformers.CLIPVisionModelWithProjection(_hf_config(TINY_VISION)).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    pixels = torch.randn(2, 3, 42, 42, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = ours(pixels, layer=-2)
        want = ref(pixel_values=pixels, output_hidden_states=True)
        pooled = ref.vision_model(pixel_values=pixels).pooler_output
    assert got.image_embeds is not None
    assert rel_err(got.image_embeds, want.image_embeds) <= 1e-5
    assert rel_err(got.hidden, want.hidden_states[-2]) <= 1e-5
    assert rel_err(got.pooled, pooled) <= 1e-5


def test_id_encoder_matches_the_published_photomaker_code(randomize, rel_err) -> None:
    ours = PhotoMakerIDEncoder(TINY).eval()
    randomize(ours, 32)
    ref = RefPhotoMakerIDEncoder(_hf_config(TINY_VISION), projection_2=80).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(2)
    pixels = torch.randn(3, 3, 42, 42, generator=gen)  # three ID images
    prompt = torch.randn(1, 77, 128, generator=gen)
    for positions in ([5], [2, 3]):
        mask = torch.zeros(77, dtype=torch.bool)
        mask[positions] = True
        with torch.no_grad():
            got = ours(pixels, prompt, mask)
            want = ref(pixels.unsqueeze(0), prompt, mask.unsqueeze(0))
        assert rel_err(got[0, mask], want[0, mask]) <= 1e-5
        assert torch.equal(got[0, ~mask], prompt[0, ~mask])  # only class tokens change
        assert (got[0, mask] - prompt[0, mask]).abs().max() > 0.1


def test_more_class_tokens_than_images_is_refused() -> None:
    mask = torch.zeros(77, dtype=torch.bool)
    mask[:2] = True
    with pytest.raises(ValueError, match="2 class tokens but only 1 ID images"):
        PhotoMakerIDEncoder(TINY)(torch.zeros(1, 3, 42, 42), torch.zeros(1, 77, 128), mask)


def test_clip_preprocess_is_comfyuis() -> None:
    """Already at size: 8-bit rounding then CLIP normalisation; else shorter side to size
    (bicubic, antialiased) and a centre crop."""
    image = torch.rand(1, 224, 224, 3, generator=torch.Generator().manual_seed(3))
    got = clip_preprocess(image)
    rounded = (image * 255).clamp(0, 255).round() / 255
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    assert torch.allclose(got, (rounded.movedim(-1, 1) - mean) / std, atol=1e-6)
    wide = torch.rand(2, 100, 300, 4)
    small = clip_preprocess(wide, 50)
    assert small.shape == (2, 3, 50, 50)
    scaled = torch.nn.functional.interpolate(wide[..., :3].movedim(-1, 1), size=(50, 150),
                                             mode="bicubic", antialias=True)[:, :, :, 50:100]
    want = ((scaled * 255).clamp(0, 255).round() / 255 - mean) / std
    assert torch.allclose(small, want, atol=1e-6)
