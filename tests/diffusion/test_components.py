"""Standalone VAE and UNet files in LDM, bare and diffusers layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion.checkpoint_maker import checkpoint_layout, make_checkpoint
from diffusion.loading import UnknownModelError, load_checkpoint, load_unet, load_vae

pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)


@pytest.fixture(scope="module")
def sdxl_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ck") / "sdxl.safetensors"
    return make_checkpoint("sdxl", out, tiny=True, seed=4, dtype="fp32")


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _assert_same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    theirs = b.state_dict()
    for key, value in a.state_dict().items():
        assert torch.equal(value, theirs[key]), key


@pytest.mark.parametrize("layout", ["single_file", "bare", "diffusers"])
def test_standalone_vae(layout, sdxl_file: Path, tmp_path: Path) -> None:
    reference = load_checkpoint(sdxl_file).vae
    tensors = load_file(sdxl_file)
    path = sdxl_file
    if layout == "bare":
        path = tmp_path / "vae.safetensors"
        save_file(_strip(tensors, "first_stage_model."), str(path))
    elif layout == "diffusers":
        path = tmp_path / "vae.safetensors"
        blocks = {"down_block_types": [""] * 4, "up_block_types": [""] * 4}
        converted = convert_ldm_vae_checkpoint(tensors, blocks)
        save_file({k: v.contiguous() for k, v in converted.items()}, str(path))
    _assert_same(reference, load_vae(path))


@pytest.mark.parametrize("layout", ["bare", "diffusers"])
def test_standalone_unet_with_family_hint(
    layout, sdxl_file: Path, tmp_path: Path, unet_reference_config
) -> None:
    reference = load_checkpoint(sdxl_file).unet
    tensors = load_file(sdxl_file)
    path = tmp_path / "unet.safetensors"
    if layout == "bare":
        save_file(_strip(tensors, "model.diffusion_model."), str(path))
    else:
        config = unet_reference_config(checkpoint_layout("sdxl", tiny=True).unet)
        converted = convert_ldm_unet_checkpoint(tensors, config)
        save_file({k: v.contiguous() for k, v in converted.items()}, str(path))
    unet, family, prediction = load_unet(path, family="sdxl")
    assert family == "sdxl" and prediction == "eps"
    _assert_same(reference, unet)
    with pytest.raises(UnknownModelError, match=r"unet\.safetensors.*context width 128"):
        load_unet(path)  # tiny widths match no published family without the hint


def test_vae_file_without_vae_keys_is_named(tmp_path: Path) -> None:
    path = tmp_path / "clip.safetensors"
    save_file({"text_model.final_layer_norm.weight": torch.ones(4)}, str(path))
    with pytest.raises(UnknownModelError, match=r"clip\.safetensors.*no VAE keys"):
        load_vae(path)
