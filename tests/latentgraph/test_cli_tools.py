"""``latentgraph make-checkpoint`` in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffusion.loading import load_checkpoint
from latentgraph.cli import main


def test_make_tiny_checkpoint_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny.safetensors"
    assert main(["make-checkpoint", "--arch", "sd21-v", "--tiny", "--seed", "3", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    ck = load_checkpoint(out)
    assert ck.layout.family == "sd2" and ck.prediction == "v"


def test_layout_json_at_full_size_allocates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "sdxl.json"
    assert main(["make-checkpoint", "--arch", "sdxl", "--layout-json", str(out)]) == 0
    shapes = json.loads(out.read_text())
    unet = sum(
        _numel(v) for k, v in shapes.items() if k.startswith("model.diffusion_model.")
    )
    assert round(unet / 1e9, 2) == 2.57


def test_bad_output_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing" / "dir" / "m.safetensors"
    code = main(["make-checkpoint", "--arch", "sd15", "--tiny", str(out)])
    assert code == 2 and "error:" in capsys.readouterr().err


def _numel(shape: list[int]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total
