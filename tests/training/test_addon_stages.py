"""``train-demo --stage controlnet|lora``: smoke runs against the embedded model (tiny data and
batches), resumption, and the exported files loaded by ControlNetLoader and LoraLoader through
the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from diffusion.embedded import DEMO_CONTROLNET, DEMO_LORA
from diffusion.unet.hooks import UNetResiduals
from latentgraph.cli import main
from latentgraph.demo import DemoGenerator
from latentgraph.demo_addons import controlnet_workflow, lora_workflow
from training import controlnet_stage, lora_stage
from training.addon_base import base_checkpoint, load_base
from training.config import RunConfig
from training.shape_hints import silhouette
from training.shapes_data import generate

SMOKE = ["--steps-scale", "0.002", "--seed", "3"]  # 6 ControlNet steps, 4 LoRA steps


@pytest.fixture
def tiny_addons(monkeypatch: pytest.MonkeyPatch) -> None:
    for stage in (controlnet_stage, lora_stage):
        monkeypatch.setattr(stage, "MIN_IMAGES", 16)
        monkeypatch.setattr(stage, "BATCH", 2)
        monkeypatch.setattr(stage, "SAVE_EVERY", 2)
    monkeypatch.setattr(controlnet_stage, "GAP_EVERY", 3)
    monkeypatch.setattr(lora_stage, "GAIN_EVERY", 2)


def _steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_controlnet_starts_as_the_unchanged_base() -> None:
    base = load_base(base_checkpoint(RunConfig(Path("/nonexistent"))))
    net = controlnet_stage.build_controlnet(base.unet)
    assert torch.equal(net.input_blocks[1][0].in_layers[2].weight,
                       base.unet.input_blocks[1][0].in_layers[2].weight)
    gen = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(1, 4, 16, 16, generator=gen), torch.randn(1, 77, 128, generator=gen)
    label = generate(1, seed=0).labels[0]
    hint = torch.from_numpy(silhouette(label, 128)).float()[None, None].expand(1, 3, -1, -1)
    with torch.no_grad():
        out = net(x, hint / 255, torch.tensor([500.0]), ctx)
        assert all(not s.any() for s in out.skips) and not out.middle.any()
        plain = base.unet(x, torch.tensor([500.0]), ctx)
        controlled = base.unet(x, torch.tensor([500.0]), ctx,
                               residuals=UNetResiduals(out.skips, out.middle))
    assert torch.equal(plain, controlled)


def test_smoke_runs_resume_and_export_loadable_files(
    tmp_path: Path, tiny_addons: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    for stage in ("controlnet", "lora"):
        assert main(["train-demo", "--out", str(out), *SMOKE, "--stage", stage]) == 0
    err = capsys.readouterr().err
    assert "controlnet 6/6" in err and "lora 4/4" in err
    cn_log = out / "controlnet" / "loss.jsonl"
    assert _steps(cn_log) == list(range(1, 7)) and "gap" in json.loads(
        cn_log.read_text().splitlines()[2])
    assert _steps(out / "lora" / "loss.jsonl") == [1, 2, 3, 4]
    done = json.loads((out / "lora" / "done.json").read_text())
    assert done["rank"] == lora_stage.RANK <= 16 and done["images"] == 16
    with safe_open(str(out / DEMO_CONTROLNET), "pt") as fh:
        assert {fh.get_tensor(k).dtype for k in fh.keys()} == {torch.float16}  # noqa: SIM118
        assert all(k.startswith("control_model.") for k in fh.keys())  # noqa: SIM118
    with safe_open(str(out / DEMO_LORA), "pt") as fh:
        assert all(k.startswith("lora_unet_") for k in fh.keys())  # noqa: SIM118
    # resumption: an interrupted stage (no done.json) picks up at its saved step
    (out / "controlnet" / "done.json").unlink()
    assert main(["train-demo", "--out", str(out), *SMOKE, "--stage", "controlnet"]) == 0
    assert _steps(cn_log) == list(range(1, 7))
    gen = DemoGenerator(out)
    try:
        settings = {"steps": 2}
        hint = gen.add_input_image("hint.png", silhouette(generate(1, seed=0).labels[0], 128))
        picture = gen.run(controlnet_workflow("a large red circle on a blue background", hint,
                                              1, settings=settings))[0]
        styled = gen.run(lora_workflow("a large red circle on a blue background, centre", 1,
                                       1.0, settings=settings))[0]
    finally:
        gen.close()
    assert picture.shape == styled.shape == (128, 128, 3)
