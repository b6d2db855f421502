"""Family/config detection from keys and shapes, load_checkpoint, and named errors."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion.checkpoint_maker import ARCHS, checkpoint_layout, layout_shapes, make_checkpoint
from diffusion.loading import (
    TruncatedCheckpointError,
    UnknownModelError,
    UnsupportedCheckpointFormatError,
    detect_layout,
    detect_unet,
    load_checkpoint,
    open_checkpoint,
    prediction_type,
)
from diffusion.unet import UNetConfig, UNetModel, family_config


@pytest.mark.parametrize("tiny", [False, True], ids=["full", "tiny"])
@pytest.mark.parametrize("arch", ARCHS)
def test_detection_recovers_every_arch_from_shapes_alone(arch, tiny) -> None:
    assert detect_layout(layout_shapes(arch, tiny=tiny)) == checkpoint_layout(arch, tiny=tiny)


def _unet_shapes(cfg: UNetConfig) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = UNetModel(cfg)
    return {"model.diffusion_model." + k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_detects_narrowed_unet_without_middle_block() -> None:
    """BK-SDM-small-like: one res block per level and no middle block."""
    cfg = family_config("sd1").replace(
        num_res_blocks=(1, 1, 1, 1),
        transformer_depth=(1, 1, 1, 0),
        transformer_depth_output=(0, 0, 1, 1, 1, 1, 1, 1),
        transformer_depth_middle=None,
    )
    assert detect_unet(_unet_shapes(cfg)) == cfg


def test_detects_shallowed_sdxl_with_uneven_depths() -> None:
    """SSD-1B-like: transformer depth differs block by block; middle block is a lone ResBlock."""
    cfg = family_config("sdxl").replace(
        transformer_depth=(0, 0, 2, 2, 4, 4),
        transformer_depth_output=(0, 0, 0, 1, 1, 2, 4, 4, 10),
        transformer_depth_middle=-1,
    )
    assert detect_unet(_unet_shapes(cfg)) == cfg


def test_detects_narrowed_sdxl_middle_without_blocks() -> None:
    """Vega-like: one res block per level, narrower width, depth-0 middle transformer."""
    cfg = family_config("sdxl").replace(
        model_channels=256,
        num_res_blocks=(1, 1, 1),
        transformer_depth=(0, 1, 3),
        transformer_depth_output=(0, 0, 1, 1, 3, 3),
        transformer_depth_middle=0,
    )
    assert detect_unet(_unet_shapes(cfg)) == cfg


@pytest.mark.parametrize("arch", ARCHS)
def test_load_tiny_safetensors(arch, tmp_path: Path) -> None:
    path = make_checkpoint(arch, tmp_path / f"{arch}.safetensors", tiny=True, seed=3)
    ck = load_checkpoint(path)
    assert ck.layout == checkpoint_layout(arch, tiny=True)
    assert ck.prediction == ("v" if arch == "sd21-v" or "unclip" in arch else "eps")
    assert ck.latent_format.scale_factor == (0.13025 if arch.startswith("sdxl") else 0.18215)
    raw = load_file(path)
    key = "input_blocks.1.0.in_layers.2.weight"
    assert torch.equal(ck.unet.state_dict()[key], raw["model.diffusion_model." + key].float())
    assert ck.unet.state_dict()[key].dtype == torch.float32
    assert {p.device.type for p in ck.unet.parameters()} == {"cpu"}


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_load_other_dtypes(dtype, tmp_path: Path) -> None:
    path = make_checkpoint("sd15", tmp_path / "m.safetensors", tiny=True, dtype=dtype)
    ck = load_checkpoint(path)
    raw = load_file(path)["first_stage_model.decoder.conv_out.weight"]
    assert raw.dtype == {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    assert torch.equal(ck.vae.decoder.conv_out.weight, raw.float())


def test_load_ckpt_with_nested_state_dict(tmp_path: Path) -> None:
    path = make_checkpoint("sdxl", tmp_path / "m.ckpt", tiny=True, file_format="ckpt")
    assert "state_dict" in torch.load(path, weights_only=True)
    ck = load_checkpoint(path)
    assert ck.layout.family == "sdxl" and set(ck.text_encoders) == {"clip_l", "clip_g"}


def test_prediction_from_key_or_metadata() -> None:
    assert prediction_type({"v_pred": (0,)}, {}) == "v"
    assert prediction_type({}, {"modelspec.prediction_type": "v"}) == "v"
    assert prediction_type({}, {"modelspec.prediction_type": "epsilon"}) == "eps"
    assert prediction_type({}, {}) == "eps"


def test_truncated_safetensors_is_named(tmp_path: Path) -> None:
    path = make_checkpoint("sd15", tmp_path / "cut.safetensors", tiny=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(TruncatedCheckpointError, match=r"cut\.safetensors.*needs \d+ bytes"):
        load_checkpoint(path)
    path.write_bytes(data[:100])
    with pytest.raises(TruncatedCheckpointError, match="cut.safetensors"):
        load_checkpoint(path)


def test_truncated_ckpt_is_named(tmp_path: Path) -> None:
    path = make_checkpoint("sd15", tmp_path / "cut.ckpt", tiny=True, file_format="ckpt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedCheckpointError, match="cut.ckpt"):
        load_checkpoint(path)


def test_foreign_file_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "lora.safetensors"
    save_file({"lora_unet_down.alpha": torch.ones(1)}, str(path))
    with pytest.raises(UnknownModelError, match=r"lora\.safetensors.*no UNet"):
        load_checkpoint(path)


def test_missing_and_misshaped_keys_are_listed(tmp_path: Path) -> None:
    path = make_checkpoint("sd15", tmp_path / "m.safetensors", tiny=True)
    tensors = load_file(path)
    del tensors["model.diffusion_model.out.0.bias"]
    tensors["first_stage_model.quant_conv.bias"] = torch.zeros(3)
    save_file(tensors, str(path))
    with pytest.raises(UnknownModelError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "missing (1): ['model.diffusion_model.out.0.bias']" in message
    assert "shape (1): ['first_stage_model.quant_conv.bias']" in message


class ModelCheckpoint:
    """Stands for a Lightning callback pickled into real SD1.x .ckpt files."""

    def __init__(self) -> None:
        self.best_model_score = torch.tensor(0.1)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_lightning_objects_become_inert_stubs(tmp_path: Path) -> None:
    source = make_checkpoint("sd15", tmp_path / "m.safetensors", tiny=True)
    path = tmp_path / "lightning.ckpt"
    payload = {"state_dict": load_file(source), "callbacks": {ModelCheckpoint: ModelCheckpoint()}}
    torch.save(payload, path)
    with pytest.raises(pickle.UnpicklingError):  # torch alone refuses the file
        torch.load(path, weights_only=True)
    ck = load_checkpoint(path)
    assert ck.layout == checkpoint_layout("sd15", tiny=True)


def test_pickle_calling_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "x": _Evil(marker)}, path)
    with pytest.raises(UnsupportedCheckpointFormatError, match="convert this file"):
        load_checkpoint(path)
    legacy = tmp_path / "legacy.ckpt"
    torch.save({"x": ModelCheckpoint()}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(UnsupportedCheckpointFormatError, match="legacy pickle"):
        load_checkpoint(legacy)
    assert not marker.exists()


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    with pytest.raises(UnsupportedCheckpointFormatError, match="'.gguf'"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_non_safetensors_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.safetensors"
    path.write_bytes(json.dumps({"hello": "world"}).encode() * 10)
    with pytest.raises(UnsupportedCheckpointFormatError, match="fake.safetensors"):
        load_checkpoint(path)


def test_optional_keys_may_be_absent_but_required_ones_not(tmp_path: Path) -> None:
    path = make_checkpoint("sdxl", tmp_path / "m.safetensors", tiny=True)
    tensors = load_file(path)
    del tensors["conditioner.embedders.1.model.logit_scale"]
    save_file(tensors, str(path))
    ck = load_checkpoint(path)
    assert float(ck.text_encoders["clip_g"][1].logit_scale) == pytest.approx(4.6052, abs=1e-4)
    del tensors["conditioner.embedders.1.model.text_projection"]  # SDXL's pooled output needs it
    save_file(tensors, str(path))
    with pytest.raises(UnknownModelError, match="conditioner.embedders.1.model.text_projection"):
        load_checkpoint(path)


def test_open_checkpoint_reads_one_component_at_a_time(tmp_path: Path) -> None:
    path = make_checkpoint("sdxl-refiner", tmp_path / "m.safetensors", tiny=True)
    opened = open_checkpoint(path)
    assert sorted(opened.prefixes()) == ["clip_g", "unet", "vae"]
    vae = opened.load("vae")
    assert opened.nbytes("vae") == sum(p.numel() * 4 for p in vae.parameters())
    assert opened.nbytes("vae", dtype=torch.float16) == opened.nbytes("vae") // 2
    raw = load_file(path)["first_stage_model.encoder.conv_in.weight"]
    assert torch.equal(vae.encoder.conv_in.weight, raw.float())
    with pytest.raises(KeyError, match="'clip_l'"):
        opened.load("clip_l")
