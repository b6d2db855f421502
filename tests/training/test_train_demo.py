from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from diffusion.loading import load_vae
from latentgraph.cli import main
from training import vae_stage

SMOKE = ["--steps-scale", "0.004", "--seed", "7"]  # 64 images (the floor), 3 VAE steps


@pytest.fixture
def tiny_vae(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vae_stage, "BATCH", 4)
    monkeypatch.setattr(vae_stage, "SCALE_IMAGES", 8)
    monkeypatch.setattr(vae_stage, "SAVE_EVERY", 2)


def _lines(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_smoke_run_writes_outputs_and_resumes(
    tmp_path: Path, tiny_vae: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["train-demo", "--out", str(out), *SMOKE, "--stage", "all"]) == 3
    err = capsys.readouterr().err
    assert "stage 'text' is not implemented yet" in err and "vae 3/3" in err
    assert not (out / "text").exists()
    vae_done = json.loads((out / "vae" / "done.json").read_text())
    assert vae_done["steps"] == 3 and abs(vae_done["scaled_latent_std"] - 1.0) < 1e-3
    assert [r["step"] for r in _lines(out / "vae" / "loss.jsonl")] == [1, 2, 3]
    assert len((out / "data" / "labels.jsonl").read_text().splitlines()) == 64
    vae = load_vae(out / "vae" / "vae.safetensors")
    assert vae.encode(torch.zeros(1, 3, 128, 128)).shape == (1, 4, 16, 16)
    stamp = (out / "vae" / "vae.safetensors").stat().st_mtime_ns
    assert main(["train-demo", "--out", str(out), *SMOKE, "--stage", "vae"]) == 0
    assert "ran nothing" in capsys.readouterr().out
    assert (out / "vae" / "vae.safetensors").stat().st_mtime_ns == stamp


def test_interrupted_vae_resumes_to_the_same_weights(tmp_path: Path, tiny_vae: None) -> None:
    args = [*SMOKE[:1], "0.005", *SMOKE[2:]]  # 4 VAE steps, saved every 2
    straight, resumed = tmp_path / "a", tmp_path / "b"
    assert main(["train-demo", "--out", str(straight), *args, "--stage", "vae"]) == 2  # no data
    for out in (straight, resumed):
        assert main(["train-demo", "--out", str(out), *args, "--stage", "data"]) == 0
    assert main(["train-demo", "--out", str(straight), *args, "--stage", "vae"]) == 0
    (resumed / "vae").mkdir()
    real_save = vae_stage._save

    def crash_after_2(folder: Path, vae: object, opt: object, step: int) -> None:
        real_save(folder, vae, opt, step)  # type: ignore[arg-type]
        if step == 2:
            raise KeyboardInterrupt

    vae_stage._save = crash_after_2  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            main(["train-demo", "--out", str(resumed), *args, "--stage", "vae"])
    finally:
        vae_stage._save = real_save  # type: ignore[assignment]
    assert main(["train-demo", "--out", str(resumed), *args, "--stage", "vae"]) == 0
    a, b = (torch.load(o / "vae" / "state.pt", weights_only=True)["model"] for o in (straight,
                                                                                    resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _lines(straight / "vae" / "loss.jsonl") == _lines(resumed / "vae" / "loss.jsonl")


def test_bad_arguments_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-demo", "--out", str(tmp_path), "--steps-scale", "0"]) == 2
    assert "steps_scale must be > 0, got 0.0" in capsys.readouterr().err
    assert main(["train-demo", "--out", str(tmp_path), "--threads", "0"]) == 2
    assert "threads must be >= 1, got 0" in capsys.readouterr().err
