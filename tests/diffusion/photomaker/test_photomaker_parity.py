"""PhotoMaker's ID encoder on tiny random weights: the whole encoder (``diffusion.vision``'s
tower, both projections, fuse module) against the reference written after TencentARC's published
``photomaker/model.py`` (``tests/diffusion/photomaker/reference.py``), which loads our state dict
as it is. The tower itself is checked against transformers in ``tests/diffusion/vision``."""

from __future__ import annotations

import pytest
import torch

from diffusion.photomaker import PhotoMakerConfig, PhotoMakerIDEncoder
from diffusion.vision import VisionConfig

transformers = pytest.importorskip("transformers")
from tests.diffusion.photomaker.reference import RefPhotoMakerIDEncoder  # noqa: E402

TINY_VISION = VisionConfig(width=64, mlp_width=128, heads=2, layers=3, image_size=42,
                           patch_size=14, projection_dim=48)
TINY = PhotoMakerConfig(TINY_VISION, projection_2=80)  # ID width 128


def _hf_config(cfg: VisionConfig):  # type: ignore[no-untyped-def]
    return transformers.CLIPVisionConfig(
        hidden_size=cfg.width, intermediate_size=cfg.mlp_width,
        num_attention_heads=cfg.heads, num_hidden_layers=cfg.layers,
        image_size=cfg.image_size, patch_size=cfg.patch_size, projection_dim=cfg.projection_dim,
        hidden_act="quick_gelu")


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
