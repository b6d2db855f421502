"""diffusers pipeline folders load to the same modules as the single file they were made from.

The folders are written by diffusers' own single-file converters from our random checkpoints,
so our inverse key maps are checked against diffusers' forward ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion.checkpoint_maker import ARCHS, checkpoint_layout, make_checkpoint
from diffusion.loading import load_checkpoint
from diffusion.loading.detect import TEXT_SLOTS
from diffusion.loading.diffusers_keys import invert, key_map, unet_prefixes, vae_prefixes
from diffusion.unet import UNetModel, family_config
from diffusion.vae import AutoencoderKL

pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
)

FOLDERS = {"sdxl": ("text_encoder", "text_encoder_2"), "sdxl_refiner": ("text_encoder_2",)}


def _save(folder: Path, name: str, tensors: dict[str, torch.Tensor]) -> None:
    (folder / name).mkdir(parents=True)
    weights = (
        "model.safetensors" if name.startswith("text") else "diffusion_pytorch_model.safetensors"
    )
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / name / weights))


def _text_to_diffusers(family, slot, cfg, ckpt) -> dict[str, torch.Tensor]:
    if slot.kind == "clip":
        converted = convert_ldm_clip_checkpoint(ckpt, remove_prefix=slot.prefix)
        return {k: v for k, v in converted.items() if not k.endswith("position_ids")}
    stub = SimpleNamespace(config=SimpleNamespace(hidden_size=cfg.width))
    converted = convert_open_clip_checkpoint(stub, ckpt, prefix=slot.prefix)
    if family in ("sd2", "sd_x4_upscaler"):  # diffusers' SD2 text encoder: no projection, last
        # layer dropped
        last = f"text_model.encoder.layers.{cfg.layers - 1}."
        converted = {k: v for k, v in converted.items() if not k.startswith(last)}
    return converted


def _write_folder(arch: str, ckpt_path: Path, folder: Path, unet_reference_config) -> None:
    layout = checkpoint_layout(arch, tiny=True)
    ckpt = load_file(ckpt_path)
    _save(folder, "unet", convert_ldm_unet_checkpoint(ckpt, unet_reference_config(layout.unet)))
    levels = len(layout.vae.ch_mult)
    blocks = {"down_block_types": [""] * levels, "up_block_types": [""] * levels}
    _save(folder, "vae", convert_ldm_vae_checkpoint(ckpt, blocks))
    names = FOLDERS.get(layout.family, ("text_encoder",))
    for (slot, cfg), name in zip(layout.text, names, strict=True):
        _save(folder, name, _text_to_diffusers(layout.family, slot, cfg, ckpt))
    (folder / "scheduler").mkdir()
    prediction = "v_prediction" if arch == "sd21-v" else "epsilon"
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"prediction_type": prediction})
    )


def _ids() -> torch.Tensor:
    ids = torch.full((1, 77), 49407)
    ids[0, :4] = torch.tensor([49406, 320, 1125, 539])
    return ids


@pytest.mark.parametrize("arch", ARCHS)
def test_diffusers_folder_loads_like_the_single_file(arch, tmp_path, unet_reference_config):
    path = make_checkpoint(arch, tmp_path / "m.safetensors", tiny=True, seed=9)
    _write_folder(arch, path, tmp_path / "folder", unet_reference_config)
    single, folder = load_checkpoint(path), load_checkpoint(tmp_path / "folder")
    assert folder.layout.unet == single.layout.unet
    assert folder.prediction == single.prediction
    for ours, theirs in ((single.unet, folder.unet), (single.vae, folder.vae)):
        mine = theirs.state_dict()
        for key, value in ours.state_dict().items():
            assert torch.equal(value, mine[key]), key
    for name, (slot, encoder) in single.text_encoders.items():
        folder_slot, folder_encoder = folder.text_encoders[name]
        with torch.no_grad():
            want = encoder(_ids(), layer=slot.layer, final_norm=slot.final_norm)
            got = folder_encoder(_ids(), layer=folder_slot.layer, final_norm=folder_slot.final_norm)
        assert torch.equal(got.hidden, want.hidden), name
        if slot.prefix != TEXT_SLOTS["sd2"][0].prefix:  # diffusers keeps no SD2 projection
            assert torch.equal(got.pooled, want.pooled), name


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl", "sdxl_refiner", "sd_x4_upscaler"])
def test_full_size_key_maps_invert_diffusers_converter(family, unet_reference_config):
    """Meta tensors only: diffusers' converter then our inverse map gives back our keys."""
    cfg = family_config(family)
    with torch.device("meta"):
        unet, vae = UNetModel(cfg), AutoencoderKL()
    ckpt = {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}
    converted = convert_ldm_unet_checkpoint(ckpt, unet_reference_config(cfg))
    back = key_map(list(converted), invert(unet_prefixes(cfg)))
    assert {"model.diffusion_model." + v for v in back.values()} == set(ckpt)
    ours = unet.state_dict()
    assert all(converted[d].shape == ours[o].shape for d, o in back.items())
    vae_ckpt = {"first_stage_model." + k: v for k, v in vae.state_dict().items()}
    blocks = {"down_block_types": [""] * 4, "up_block_types": [""] * 4}
    vae_converted = convert_ldm_vae_checkpoint(vae_ckpt, blocks)
    vae_back = key_map(list(vae_converted), invert(vae_prefixes(vae.config)))
    assert sorted(vae_back.values()) == sorted(vae.state_dict())
