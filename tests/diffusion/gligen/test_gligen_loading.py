"""GLIGEN files: the full-size SD1.x text-box layout (derived from diffusers' gated UNet, whose
GLIGEN converter keeps the original fuser and position-net names, mapped back to single-file
block paths) is accepted on the meta device and cut versions are refused naming the missing
keys; tiny files load with any key prefix and from pickles; wrong files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from diffusion.gligen import GligenError, GligenModel, config_for_unet, load_gligen
from diffusion.gligen.loading import canonical_keys, check_gligen_layout
from diffusion.loading.diffusers_keys import invert, key_map, unet_prefixes
from diffusion.unet import UNetConfig, family_config

diffusers = pytest.importorskip("diffusers")

TINY = UNetConfig(
    in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2), num_res_blocks=(1, 1),
    transformer_depth=(1, 0), transformer_depth_output=(0, 0, 1, 1), transformer_depth_middle=1,
    context_dim=64, num_heads=8,
)


def _sd14_manifest() -> dict[str, tuple[int, ...]]:
    """{key: shape} of an SD1.4 text-box GLIGEN file: diffusers' gated SD1.x UNet built on the
    meta device, its fuser keys mapped to single-file paths, and its position net."""
    cfg = family_config("sd1")
    config = {"attention_type": "gated", "cross_attention_dim": 768, "attention_head_dim": 8,
              "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
              "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}
    with torch.device("meta"):
        ref = diffusers.UNet2DConditionModel(**config)
    state = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    fusers = [k for k in state if ".fuser." in k]
    back = key_map(fusers, invert(unet_prefixes(cfg)))
    manifest = {back[k]: state[k] for k in fusers}
    manifest |= {k: v for k, v in state.items() if k.startswith("position_net.")}
    return manifest


def test_sd14_layout_is_accepted() -> None:
    manifest = _sd14_manifest()
    assert len([k for k in manifest if k.endswith("fuser.alpha_attn")]) == 16
    config = check_gligen_layout(manifest, Path("gligen_sd14_textbox_pruned.safetensors"))
    assert [(s.block, s.query_dim) for s in config.fusers][:3] == [
        (("input", 1), 320), (("input", 2), 320), (("input", 4), 640)]
    assert (config.position_in_dim, config.position_out_dim) == (768, 768)
    with torch.device("meta"):
        params = sum(p.numel() for p in GligenModel(config).parameters())
    assert round(params / 1e6) == 209  # fp16: the 418 MB pruned file


def test_cut_sd14_layout_is_refused_naming_the_missing_keys() -> None:
    manifest = _sd14_manifest()
    gone = [k for k in manifest if k.startswith("output_blocks.11.1.")]  # a whole fused block
    gone.append("input_blocks.4.1.transformer_blocks.0.fuser.attn.to_v.weight")
    for key in gone:
        del manifest[key]
    with pytest.raises(GligenError, match=rf"missing \({len(gone)}\)") as error:
        check_gligen_layout(manifest, Path("cut.safetensors"))
    # the first missing keys in order are named: the cut projection, then the lost block's
    assert "input_blocks.4.1.transformer_blocks.0.fuser.attn.to_v.weight" in str(error.value)
    assert "output_blocks.11.1.transformer_blocks.0.fuser." in str(error.value)


def _tiny_state(randomize, prefix: str = "") -> dict[str, torch.Tensor]:
    model = GligenModel(config_for_unet(TINY, 768, 64))
    randomize(model, 3)
    return {prefix + k: v.half() for k, v in model.state_dict().items()}


def test_tiny_file_loads_with_a_prefix_and_other_keys(randomize, tmp_path: Path) -> None:
    state = _tiny_state(randomize, "model.diffusion_model.")
    extra = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(32, 4, 3, 3)}
    save_file({**state, **extra}, tmp_path / "g.safetensors")
    model = load_gligen(tmp_path / "g.safetensors")
    fuser = model.fuser(("output", 2), 0)
    assert fuser is not None and fuser.linear.weight.dtype == torch.float32
    key = "model.diffusion_model.output_blocks.2.1.transformer_blocks.0.fuser.linear.weight"
    assert torch.equal(fuser.linear.weight, state[key].float())
    assert model.fuser(("input", 2), 0) is None  # the tiny UNet has no transformer there


def test_tiny_pickle_loads(randomize, tmp_path: Path) -> None:
    torch.save(_tiny_state(randomize), tmp_path / "g.pth")
    model = load_gligen(tmp_path / "g.pth")
    assert model.config.position_in_dim == 64 and len(model.config.fusers) == 4


def test_not_a_gligen_file_is_refused(tmp_path: Path) -> None:
    save_file({"lora_unet_down.weight": torch.zeros(2, 2)}, tmp_path / "x.safetensors")
    with pytest.raises(GligenError, match="not a GLIGEN model"):
        load_gligen(tmp_path / "x.safetensors")
    (tmp_path / "garbage.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(GligenError, match="cannot be read"):
        load_gligen(tmp_path / "garbage.safetensors")


def test_missing_position_net_is_refused(randomize, tmp_path: Path) -> None:
    state = {k: v for k, v in _tiny_state(randomize).items() if not k.startswith("position_net")}
    save_file(state, tmp_path / "g.safetensors")
    with pytest.raises(GligenError, match="position net"):
        load_gligen(tmp_path / "g.safetensors")


def test_two_keys_for_one_parameter_are_refused() -> None:
    shapes = {"a.position_net.linears.0.bias": (512,), "b.position_net.linears.0.bias": (512,)}
    with pytest.raises(GligenError, match="both mean 'position_net.linears.0.bias'"):
        canonical_keys(shapes)
