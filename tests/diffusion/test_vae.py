"""VAE parity with diffusers' AutoencoderKL, tiled encode/decode and latent formats."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from diffusion import latent_format
from diffusion.ops.fast_conv import conv3x3_path
from diffusion.vae import AutoencoderKL, VAEConfig, decode_tiled, encode_tiled, tiled_apply

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402

TINY = VAEConfig(ch=32, ch_mult=(1, 1, 2, 2), num_res_blocks=1)


def _reference_config(cfg: VAEConfig) -> dict[str, object]:
    levels = len(cfg.ch_mult)
    return {
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_ch,
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "block_out_channels": [cfg.ch * m for m in cfg.ch_mult],
        "layers_per_block": cfg.num_res_blocks,
        "act_fn": "silu",
        "latent_channels": cfg.z_channels,
        "norm_num_groups": cfg.norm_groups,
        "sample_size": 32,
    }


def _pair(cfg: VAEConfig, randomize, seed: int):
    """Ours with random weights (``seed``) and diffusers' AutoencoderKL loaded from them."""
    torch.manual_seed(0)
    ours = AutoencoderKL(cfg).eval()
    randomize(ours, seed)
    ref_config = _reference_config(cfg)
    ref = diffusers.AutoencoderKL(**ref_config).eval()
    checkpoint = {"first_stage_model." + k: v for k, v in ours.state_dict().items()}
    ref.load_state_dict(convert_ldm_vae_checkpoint(checkpoint, ref_config), strict=True)
    return ours, ref


@pytest.fixture
def vae_pair(randomize):
    return _pair(TINY, randomize, 99)


def _pixels(height: int = 32, width: int = 40) -> torch.Tensor:
    return torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(5)) * 2 - 1


def test_encode_mean_and_sample_match_diffusers(vae_pair, rel_err) -> None:
    ours, ref = vae_pair
    x = _pixels()
    with torch.no_grad():
        dist = ref.encode(x).latent_dist
        assert rel_err(ours.encode(x), dist.mean) <= 1e-5
        got = ours.encode(x, sample=True, generator=torch.Generator().manual_seed(11))
        want = dist.sample(generator=torch.Generator().manual_seed(11))
    assert got.shape == (2, 4, 4, 5)
    assert rel_err(got, want) <= 1e-5
    assert (got - dist.mean).abs().max() > 1e-3  # the sample is not the mean


def test_decode_matches_diffusers(vae_pair, rel_err) -> None:
    ours, ref = vae_pair
    z = torch.randn(2, 4, 4, 5, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        got, want = ours.decode(z), ref.decode(z).sample
    assert got.shape == (2, 3, 32, 40)
    assert rel_err(got, want) <= 1e-5


def test_decode_with_winograd_convolutions_matches_diffusers(randomize, rel_err) -> None:
    cfg = VAEConfig(ch=64, ch_mult=(1, 1), num_res_blocks=1)  # 64 channels: Winograd's floor
    ours, ref = _pair(cfg, randomize, 98)
    z = torch.randn(1, 4, 12, 16, generator=torch.Generator().manual_seed(7))
    conv = ours.decoder.mid.block_1.conv1
    with torch.no_grad():
        assert conv3x3_path(conv, torch.empty(1, 64, 12, 16), conv.weight) == "winograd-f2"
        got, want = ours.decode(z), ref.decode(z).sample  # maps 12x16 (F2), 24x32 (F2)
    assert got.shape == (1, 3, 24, 32)
    assert rel_err(got, want) <= 1e-5


def test_norm_eps_and_activation_match_reference(vae_pair) -> None:
    ours, ref = vae_pair
    assert ref.config.act_fn == "silu"
    assert (
        ours.encoder.down[0].block[0].norm1.eps
        == ref.encoder.down_blocks[0].resnets[0].norm1.eps
        == 1e-6
    )
    assert ours.decoder.mid.attn_1.norm.eps == ref.decoder.mid_block.attentions[0].group_norm.eps
    assert ours.encoder.norm_out.eps == ref.encoder.conv_norm_out.eps


def test_tiled_equals_full_when_one_tile_covers(vae_pair) -> None:
    ours, _ = vae_pair
    x, z = _pixels(), torch.randn(1, 4, 4, 5, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(decode_tiled(ours, z, tile=8, overlap=2), ours.decode(z))
        assert torch.equal(encode_tiled(ours, x, tile=48, overlap=8), ours.encode(x))


def test_tiled_blending_is_exact_for_a_pointwise_map() -> None:
    """With a map that has no spatial context, any tiling must reproduce it exactly."""
    x = torch.randn(1, 4, 23, 37, generator=torch.Generator().manual_seed(0))

    def up8(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=8, mode="nearest")[:, :3] * 2 + 1

    got = tiled_apply(x, up8, tile=8, overlap=3, scale=8)
    torch.testing.assert_close(got, up8(x), rtol=1e-6, atol=1e-6)


def test_tiled_decode_bounds_tile_size(vae_pair) -> None:
    ours, _ = vae_pair
    seen: list[tuple[int, int]] = []

    def decode(t: torch.Tensor) -> torch.Tensor:
        seen.append((t.shape[-2], t.shape[-1]))
        return ours.decode(t)

    z = torch.randn(1, 4, 13, 17, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = tiled_apply(z, decode, tile=6, overlap=2, scale=8)
    assert out.shape == (1, 3, 104, 136)
    assert (
        max(max(s) for s in seen) <= 6 and len(seen) == 3 * 4
    )  # rows at 0, 4, 7; columns at 0, 4, 8, 11
    assert torch.isfinite(out).all()


def test_encode_tiled_rejects_unaligned_sizes(vae_pair) -> None:
    ours, _ = vae_pair
    with pytest.raises(ValueError, match="multiples of 8"):
        encode_tiled(ours, _pixels(30, 40), tile=16, overlap=8)


def test_latent_formats_hold_the_family_scales() -> None:
    assert latent_format.SD15.scale_factor == 0.18215
    assert latent_format.SDXL.scale_factor == 0.13025
    z = torch.randn(1, 4, 2, 2)
    torch.testing.assert_close(latent_format.SDXL.process_out(latent_format.SDXL.process_in(z)), z)
    torch.testing.assert_close(latent_format.SD15.process_in(z), z * 0.18215)
