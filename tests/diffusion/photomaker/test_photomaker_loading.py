"""PhotoMaker files: the full-size layout (the published encoder built on the meta device:
transformers' ViT-L/14 with projection, ``visual_projection_2`` and the fuse module) is accepted
and cut versions refused naming the missing keys; tiny ``photomaker-v1.bin``-style pickles (an
``id_encoder`` dict next to ``lora_weights``) and safetensors load."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from diffusion.photomaker import PhotoMakerConfig, PhotoMakerError, PhotoMakerIDEncoder
from diffusion.photomaker.loading import check_photomaker_layout, load_photomaker
from diffusion.vision import VIT_L_14, VisionConfig

transformers = pytest.importorskip("transformers")
from tests.diffusion.photomaker.reference import (  # noqa: E402
    VISION_CONFIG_DICT,
    RefPhotoMakerIDEncoder,
)

TINY = PhotoMakerConfig(VisionConfig(width=64, mlp_width=128, heads=1, layers=2,
                                     image_size=28, patch_size=14, projection_dim=32), 96)


def _published_manifest() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        ref = RefPhotoMakerIDEncoder(transformers.CLIPVisionConfig(**VISION_CONFIG_DICT))
    return {k: tuple(v.shape) for k, v in ref.state_dict().items()}


def test_published_layout_is_accepted() -> None:
    manifest = _published_manifest()
    config = check_photomaker_layout(manifest, Path("photomaker-v1.bin"))
    assert config == PhotoMakerConfig() and config.vision == VIT_L_14
    assert config.id_width == 2048
    with torch.device("meta"):
        params = sum(p.numel() for p in PhotoMakerIDEncoder(config).parameters())
    assert params == sum(math.prod(shape) for shape in manifest.values())
    assert round(params / 1e6, 1) == 326.3  # ViT-L/14 tower 303.2M, projections, fuse 21M


def test_cut_layout_is_refused_naming_the_missing_keys() -> None:
    manifest = _published_manifest()
    gone = ["fuse_module.mlp2.fc1.bias", "vision_model.encoder.layers.7.self_attn.q_proj.weight"]
    for key in gone:
        del manifest[key]
    with pytest.raises(PhotoMakerError, match=r"missing \(2\)") as error:
        check_photomaker_layout(manifest, Path("cut.bin"))
    assert all(key in str(error.value) for key in gone)
    with pytest.raises(PhotoMakerError, match="visual_projection_2.weight missing"):
        check_photomaker_layout({k: v for k, v in _published_manifest().items()
                                 if not k.startswith("visual_projection_2")}, Path("x.bin"))


def _tiny_state(randomize) -> dict[str, torch.Tensor]:
    model = PhotoMakerIDEncoder(TINY)
    randomize(model, 5)
    return {k: v.half() for k, v in model.state_dict().items()}


def test_v1_style_pickle_loads(randomize, tmp_path: Path) -> None:
    state = _tiny_state(randomize)
    lora = {"unet.down.lora_A.weight": torch.zeros(4, 4)}
    torch.save({"id_encoder": {**state, "vision_model.embeddings.position_ids":
                               torch.arange(5)[None]}, "lora_weights": lora},
               tmp_path / "photomaker-v1.bin")
    model = load_photomaker(tmp_path / "photomaker-v1.bin")
    assert model.config == TINY
    weight = model.fuse_module.mlp1.fc1.weight
    assert weight.dtype == torch.float32
    assert torch.equal(weight, state["fuse_module.mlp1.fc1.weight"].float())


def test_prefixed_safetensors_loads(randomize, tmp_path: Path) -> None:
    state = {f"id_encoder.{k}": v for k, v in _tiny_state(randomize).items()}
    state["lora_weights.unet.x"] = torch.zeros(2)
    save_file(state, tmp_path / "pm.safetensors")
    assert load_photomaker(tmp_path / "pm.safetensors").config == TINY


def test_other_files_are_refused(tmp_path: Path) -> None:
    save_file({"input_blocks.1.1.x": torch.zeros(2)}, tmp_path / "x.safetensors")
    with pytest.raises(PhotoMakerError, match="not a PhotoMaker ID encoder"):
        load_photomaker(tmp_path / "x.safetensors")
    (tmp_path / "bad.bin").write_bytes(b"\x00garbage")
    with pytest.raises(PhotoMakerError, match="cannot be read"):
        load_photomaker(tmp_path / "bad.bin")
