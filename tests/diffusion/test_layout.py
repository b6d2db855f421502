"""Full-size key layouts on the meta device (nothing is allocated).

Our state dict with the real single-file prefixes, converted by diffusers' own single-file
converters, must give exactly the keys and shapes of the diffusers / transformers model built from
the published config; parameter counts must equal the published ones.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from diffusion.text import CLIP_L, OPEN_CLIP_BIGG, OPEN_CLIP_H, CLIPTextModel, OpenCLIPTextModel
from diffusion.unet import UNetModel, family_config
from diffusion.vae import AutoencoderKL

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
)


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta(factory):
    with torch.device("meta"):
        return factory()


@pytest.mark.parametrize(
    ("family", "in_channels"),
    [("sd1", 4), ("sd1", 9), ("sd2", 4), ("sd2", 9), ("sdxl", 4), ("sdxl", 9), ("sdxl_refiner", 4)],
)
def test_unet_layout_equals_diffusers(family, in_channels, unet_reference_config) -> None:
    cfg = family_config(family, in_channels=in_channels)
    ours = _meta(lambda: UNetModel(cfg))
    ref_config = unet_reference_config(cfg)
    ref = _meta(lambda: diffusers.UNet2DConditionModel(**ref_config))
    checkpoint = {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}
    converted = convert_ldm_unet_checkpoint(checkpoint, ref_config)
    assert len(converted) == len(checkpoint)  # nothing dropped, nothing merged
    assert _shapes(converted) == _shapes(ref.state_dict())


def test_vae_layout_equals_diffusers() -> None:
    ours = _meta(AutoencoderKL)
    ref_config = {
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "block_out_channels": [128, 256, 512, 512],
        "layers_per_block": 2,
        "latent_channels": 4,
        "sample_size": 512,
    }
    ref = _meta(lambda: diffusers.AutoencoderKL(**ref_config))
    checkpoint = {"first_stage_model." + k: v for k, v in ours.state_dict().items()}
    converted = convert_ldm_vae_checkpoint(checkpoint, ref_config)
    assert _shapes(converted) == _shapes(ref.state_dict())


def _hf_text_config(**kw):
    return transformers.CLIPTextConfig(max_position_embeddings=77, vocab_size=49408, **kw)


def test_clip_l_layout_equals_transformers() -> None:
    ours = _meta(lambda: CLIPTextModel(CLIP_L))
    ref = _meta(
        lambda: transformers.CLIPTextModel(
            _hf_text_config(
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
            )
        )
    )
    for prefix in ("cond_stage_model.transformer.", "conditioner.embedders.0.transformer."):
        checkpoint = {prefix + k: v for k, v in ours.state_dict().items()}
        converted = convert_ldm_clip_checkpoint(checkpoint)
        if not hasattr(ref, "text_model"):  # transformers >= 5.6 flattened CLIPTextModel
            converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
        assert _shapes(converted) == _shapes(ref.state_dict())


def test_open_clip_h_layout_equals_diffusers_sd2_text_encoder() -> None:
    """diffusers' SD2 text encoder is CLIPTextModel with 23 layers: it drops layer 24 and the
    projection (its converter's ignore list), which real SD2 files carry and we keep."""
    ours = _meta(lambda: OpenCLIPTextModel(OPEN_CLIP_H))
    hf = _hf_text_config(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=23,
        num_attention_heads=16,
        hidden_act="gelu",
    )
    ref = _meta(lambda: transformers.CLIPTextModel(hf))
    checkpoint = {"cond_stage_model.model." + k: v for k, v in ours.state_dict().items()}
    converted = convert_open_clip_checkpoint(ref, checkpoint, prefix="cond_stage_model.model.")
    if not hasattr(ref, "text_model"):
        converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
    assert _shapes(converted) == _shapes(ref.state_dict())


def test_open_clip_bigg_layout_equals_transformers_with_projection() -> None:
    ours = _meta(lambda: OpenCLIPTextModel(OPEN_CLIP_BIGG))
    hf = _hf_text_config(
        hidden_size=1280,
        intermediate_size=5120,
        num_hidden_layers=32,
        num_attention_heads=20,
        hidden_act="gelu",
        projection_dim=1280,
    )
    ref = _meta(lambda: transformers.CLIPTextModelWithProjection(hf))
    prefix = "conditioner.embedders.1.model."
    checkpoint = {prefix + k: v for k, v in ours.state_dict().items()}
    converted = convert_open_clip_checkpoint(ref, checkpoint, prefix=prefix)
    assert _shapes(converted) == _shapes(ref.state_dict())


def test_parameter_counts_match_published() -> None:
    assert round(_params(_meta(lambda: UNetModel(family_config("sd1")))) / 1e6, 1) == 859.5
    assert round(_params(_meta(AutoencoderKL)) / 1e6, 1) == 83.7
    assert round(_params(_meta(lambda: CLIPTextModel(CLIP_L))) / 1e6, 1) == 123.1
    assert round(_params(_meta(lambda: UNetModel(family_config("sdxl")))) / 1e9, 2) == 2.57
