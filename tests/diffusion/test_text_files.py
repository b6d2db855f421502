"""Standalone text-encoder files in transformers, OpenCLIP and single-file layouts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion.checkpoint_maker import make_checkpoint
from diffusion.loading import UnknownModelError, load_checkpoint
from diffusion.loading.detect import TEXT_SLOTS
from diffusion.loading.text_files import load_text_encoder

pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_clip_checkpoint,
    convert_open_clip_checkpoint,
)

IDS = torch.tensor([[49406, 320, 1125, 539, 320, 2368, 49407] + [49407] * 70])


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    path = make_checkpoint("sdxl", tmp_path_factory.mktemp("ck") / "xl.safetensors", tiny=True,
                           dtype="fp32", seed=7)
    return path, load_checkpoint(path)


def _out(module: torch.nn.Module) -> torch.Tensor:
    encoding = module(IDS, layer=-2, final_norm=False)
    return encoding.hidden


def _save(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def test_hf_layout_clip_l_and_bigg(sdxl: tuple[Path, object], tmp_path: Path) -> None:
    path, ck = sdxl
    raw = load_file(path)
    slot_l, slot_g = TEXT_SLOTS["sdxl"]
    hf_l = convert_ldm_clip_checkpoint(raw, remove_prefix=slot_l.prefix)
    hf_l = {k: v for k, v in hf_l.items() if not k.endswith("position_ids")}
    width_g = ck.text_encoders["clip_g"][1].config.width  # type: ignore[attr-defined]
    stub = SimpleNamespace(config=SimpleNamespace(hidden_size=width_g))
    hf_g = convert_open_clip_checkpoint(stub, raw, prefix=slot_g.prefix)
    got_l = load_text_encoder(_save(hf_l, tmp_path / "clip_l.safetensors"), name="clip_l")
    got_g = load_text_encoder(_save(hf_g, tmp_path / "clip_g.safetensors"), name="clip_g")
    assert (got_l.name, got_g.name) == ("clip_l", "clip_g")
    assert torch.equal(_out(got_l.module), _out(ck.text_encoders["clip_l"][1]))  # type: ignore
    assert torch.equal(_out(got_g.module), _out(ck.text_encoders["clip_g"][1]))  # type: ignore


def test_open_clip_layout_and_single_file(sdxl: tuple[Path, object], tmp_path: Path) -> None:
    path, ck = sdxl
    prefix = TEXT_SLOTS["sdxl"][1].prefix
    bare = {k[len(prefix):]: v for k, v in load_file(path).items() if k.startswith(prefix)}
    got = load_text_encoder(_save(bare, tmp_path / "g.safetensors"), name="clip_g")
    assert torch.equal(_out(got.module), _out(ck.text_encoders["clip_g"][1]))  # type: ignore
    from_ckpt = load_text_encoder(path, name="clip_l")
    assert torch.equal(_out(from_ckpt.module), _out(ck.text_encoders["clip_l"][1]))  # type: ignore
    with pytest.raises(UnknownModelError, match="several text encoders"):
        load_text_encoder(path)


def test_width_names_the_encoder_and_errors_are_named(tmp_path: Path) -> None:
    odd = _save({"text_model.embeddings.token_embedding.weight": torch.zeros(10, 96)},
                tmp_path / "odd.safetensors")
    with pytest.raises(UnknownModelError, match="width 96"):
        load_text_encoder(odd)
    nothing = _save({"foo.weight": torch.zeros(2)}, tmp_path / "x.safetensors")
    with pytest.raises(UnknownModelError, match="no text-encoder keys"):
        load_text_encoder(nothing)
    with pytest.raises(ValueError, match="unknown text encoder name"):
        load_text_encoder(odd, name="clip_x")
