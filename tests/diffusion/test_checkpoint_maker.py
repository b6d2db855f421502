"""Random-weight checkpoints: real layouts, streamed safetensors, layout JSON, determinism."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from diffusion.checkpoint_maker import layout_shapes, make_checkpoint
from diffusion.loading import detect_layout
from diffusion.unet import family_config

REPO = Path(__file__).resolve().parents[2]


def test_streamed_file_is_valid_safetensors_with_the_layout(tmp_path: Path) -> None:
    path = make_checkpoint("sd21-v", tmp_path / "m.safetensors", tiny=True, seed=5)
    shapes = layout_shapes("sd21-v", tiny=True)
    with safe_open(str(path), framework="pt") as fh:
        assert set(fh.keys()) == set(shapes)
        assert fh.metadata()["modelspec.prediction_type"] == "v"
        for key in ("model.diffusion_model.out.2.weight", "cond_stage_model.model.logit_scale"):
            tensor = fh.get_tensor(key)
            assert tuple(tensor.shape) == shapes[key] and tensor.dtype == torch.float16
        assert tuple(fh.get_tensor("v_pred").shape) == (0,)
        norm = fh.get_tensor("model.diffusion_model.out.0.weight").float()
        assert 0.5 < norm.mean() < 1.5 and norm.std() > 0.01  # norm scales randomised near one


def test_seed_decides_the_weights(tmp_path: Path) -> None:
    a = make_checkpoint("sd15", tmp_path / "a.safetensors", tiny=True, seed=1).read_bytes()
    b = make_checkpoint("sd15", tmp_path / "b.safetensors", tiny=True, seed=1).read_bytes()
    c = make_checkpoint("sd15", tmp_path / "c.safetensors", tiny=True, seed=2).read_bytes()
    assert a == b and a != c


def test_clip_l_keeps_real_files_position_ids(tmp_path: Path) -> None:
    path = make_checkpoint("sdxl", tmp_path / "m.safetensors", tiny=True)
    with safe_open(str(path), framework="pt") as fh:
        ids = fh.get_tensor(
            "conditioner.embedders.0.transformer.text_model.embeddings.position_ids"
        )
    assert torch.equal(ids, torch.arange(77).reshape(1, 77))


def test_layout_json_describes_full_size_sdxl_without_weights(tmp_path: Path) -> None:
    path = make_checkpoint("sdxl", tmp_path / "sdxl.json", layout_json=True)
    shapes = {k: tuple(v) for k, v in json.loads(path.read_text()).items()}
    assert path.stat().st_size < 1_000_000
    layout = detect_layout(shapes)
    assert layout.family == "sdxl" and layout.unet == family_config("sdxl")
    unet = sum(math.prod(s) for k, s in shapes.items() if k.startswith("model.diffusion_model."))
    assert round(unet / 1e9, 2) == 2.57


def test_unknown_arch_and_dtype_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'sd3'"):
        make_checkpoint("sd3", tmp_path / "x.safetensors")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'fp8'"):
        make_checkpoint("sd15", tmp_path / "x.safetensors", dtype="fp8")  # type: ignore[arg-type]


@pytest.mark.slow
def test_full_size_sd15_streams_with_little_memory(tmp_path: Path) -> None:
    """Writes the 2 GB fp16 SD1.5 file in a fresh process and reads its peak RSS."""
    out = tmp_path / "sd15.safetensors"
    code = (
        "import sys; from diffusion.checkpoint_maker import make_checkpoint; "
        f"make_checkpoint('sd15', {str(out)!r}); "
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    peak_mib = int(done.stdout.strip().splitlines()[-1]) / 1024
    assert out.stat().st_size > 2_000_000_000
    assert peak_mib < 1024, f"peak RSS {peak_mib:.0f} MiB"
