"""The SD x4 upscaler's full-size key layout on the meta device (nothing is allocated).

Our UNet and VAE with the real single-file prefixes, converted by diffusers' own single-file
converters, give exactly the keys and shapes of diffusers' models built from the published
``stabilityai/stable-diffusion-x4-upscaler`` configs; a manifest of the real file (our layout
plus the ``low_scale_model.`` noise-schedule buffers and DDPM buffers LDM saves) is detected as
the x4 upscaler and passes the layout check, and a file with keys cut out is refused naming
them.
"""

from __future__ import annotations

import pytest
import torch

from diffusion.checkpoint_maker import layout_shapes
from diffusion.loading import UnknownModelError, detect_layout
from diffusion.loading.checkpoint import build_modules, check_layout, expected_shapes
from diffusion.unet import UNetModel, family_config
from diffusion.vae import AutoencoderKL
from diffusion.vae.model import VAEConfig

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)

# unet/config.json and vae/config.json of stabilityai/stable-diffusion-x4-upscaler.
X4_UNET_CONFIG = {
    "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [256, 512, 512, 1024],
    "cross_attention_dim": 1024, "in_channels": 7, "out_channels": 4, "layers_per_block": 2,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                         "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                       "UpBlock2D"],
    "norm_eps": 1e-05, "norm_num_groups": 32, "num_class_embeds": 1000,
    "only_cross_attention": [True, True, True, False], "sample_size": 128,
    "upcast_attention": False, "use_linear_projection": True,
}
X4_VAE_CONFIG = {
    "block_out_channels": [128, 256, 512], "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3, "in_channels": 3, "out_channels": 3,
    "latent_channels": 4, "layers_per_block": 2, "sample_size": 256,
}
LOW_SCALE_BUFFERS = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                     "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod",
                     "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod")


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def test_unet_layout_equals_diffusers_published_config() -> None:
    with torch.device("meta"):
        ours = UNetModel(family_config("sd_x4_upscaler"))
        ref = diffusers.UNet2DConditionModel(**X4_UNET_CONFIG)
    checkpoint = {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}
    converted = convert_ldm_unet_checkpoint(checkpoint, X4_UNET_CONFIG)
    assert len(converted) == len(checkpoint)
    assert _shapes(converted) == _shapes(ref.state_dict())
    assert round(sum(p.numel() for p in ours.parameters()) / 1e6, 1) == 473.4


def test_vae_layout_equals_diffusers_published_config() -> None:
    with torch.device("meta"):
        ours = AutoencoderKL(VAEConfig(ch_mult=(1, 2, 4)))
        ref = diffusers.AutoencoderKL(**X4_VAE_CONFIG)
    assert ours.config.downscale == 4
    checkpoint = {"first_stage_model." + k: v for k, v in ours.state_dict().items()}
    assert _shapes(convert_ldm_vae_checkpoint(checkpoint, X4_VAE_CONFIG)) == _shapes(
        ref.state_dict())


def _real_file_manifest() -> dict[str, tuple[int, ...]]:
    shapes = layout_shapes("sd-x4-upscaler")
    shapes.update({f"low_scale_model.{name}": (1000,) for name in LOW_SCALE_BUFFERS})
    shapes.update({"betas": (1000,), "alphas_cumprod": (1000,), "scale_factor": ()})
    return shapes


def test_real_layout_is_detected_and_accepted() -> None:
    shapes = _real_file_manifest()
    layout = detect_layout(shapes)
    assert layout.family == "sd_x4_upscaler"
    assert layout.unet == family_config("sd_x4_upscaler")
    assert layout.vae is not None and layout.vae.downscale == 4
    assert [slot.name for slot, _ in layout.text] == ["clip_h"]
    with torch.device("meta"):
        check_layout("x4-upscaler-ema.safetensors", shapes, expected_shapes(build_modules(layout)))


def test_truncated_file_is_refused_naming_the_missing_keys() -> None:
    shapes = _real_file_manifest()
    cut = ["model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_k.weight",
           "model.diffusion_model.label_emb.weight"]
    for key in cut:
        del shapes[key]
    layout = detect_layout(shapes)
    assert layout.family == "sd_x4_upscaler"  # told by its 7 input channels
    with torch.device("meta"), pytest.raises(UnknownModelError) as error:
        check_layout("x4.safetensors", shapes, expected_shapes(build_modules(layout)))
    assert "missing (2)" in str(error.value)
    assert all(key in str(error.value) for key in cut)
