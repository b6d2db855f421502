"""Our CLIP vision tower equals transformers' ``CLIPVisionModelWithProjection`` on the same
random weights (every parameter randomised), for both activations; ComfyUI's preprocessing is
checked by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from diffusion.vision import CLIPVisionModel, VisionConfig, clip_preprocess
from diffusion.vision.config import CLIP_MEAN, CLIP_STD

transformers = pytest.importorskip("transformers")


def tiny(activation: str) -> VisionConfig:
    return VisionConfig(width=64, layers=3, heads=4, mlp_width=96, projection_dim=24,
                        patch_size=4, image_size=16, activation=activation)  # type: ignore[arg-type]


def reference(cfg: VisionConfig):
    hf = transformers.CLIPVisionConfig(
        hidden_size=cfg.width, intermediate_size=cfg.mlp_width,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
        image_size=cfg.image_size, patch_size=cfg.patch_size, projection_dim=cfg.projection_dim,
        hidden_act=cfg.activation, layer_norm_eps=cfg.eps)
    return transformers.CLIPVisionModelWithProjection(hf).eval()


@pytest.mark.parametrize("activation", ["quick_gelu", "gelu"])
def test_outputs_match_transformers(activation: str, randomize, rel_err) -> None:
    cfg = tiny(activation)
    ref = reference(cfg)
    randomize(ref, 11)
    ours = CLIPVisionModel(cfg).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    pixels = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = ref(pixel_values=pixels, output_hidden_states=True)
        got = ours(pixels)
    assert rel_err(got.last_hidden_state, want.last_hidden_state) <= 1e-5
    assert rel_err(got.penultimate_hidden_states, want.hidden_states[-2]) <= 1e-5
    assert rel_err(got.image_embeds, want.image_embeds) <= 1e-5
    assert not torch.equal(got.penultimate_hidden_states, got.last_hidden_state)


def test_preprocess_center_crop_by_hand() -> None:
    image = torch.rand(1, 30, 40, 4, generator=torch.Generator().manual_seed(2))  # RGBA
    got = clip_preprocess(image, 16, crop=True)
    nchw = image[..., :3].movedim(-1, 1)
    resized = F.interpolate(nchw, size=(16, 21), mode="bicubic", antialias=True)  # 40*16/30
    cropped = resized[:, :, :, 2:18]
    quantised = torch.clip(255 * cropped, 0, 255).round() / 255
    mean, std = torch.tensor(CLIP_MEAN).view(3, 1, 1), torch.tensor(CLIP_STD).view(3, 1, 1)
    assert torch.equal(got, (quantised - mean) / std)


def test_preprocess_none_squashes_and_keeps_exact_size() -> None:
    image = torch.rand(2, 30, 40, 3, generator=torch.Generator().manual_seed(3))
    squashed = F.interpolate(image.movedim(-1, 1), size=(16, 16), mode="bicubic",
                             antialias=True)
    quantised = torch.clip(255 * squashed, 0, 255).round() / 255
    mean, std = torch.tensor(CLIP_MEAN).view(3, 1, 1), torch.tensor(CLIP_STD).view(3, 1, 1)
    assert torch.equal(clip_preprocess(image, 16, crop=False), (quantised - mean) / std)
    exact = torch.rand(1, 16, 16, 3)
    plain = (torch.clip(255 * exact.movedim(-1, 1), 0, 255).round() / 255 - mean) / std
    assert torch.equal(clip_preprocess(exact, 16), plain)  # no resampling at the model's size
