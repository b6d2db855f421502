from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from diffusion.guidance import Cond, GuidedModel
from diffusion.loading import load_checkpoint, load_vae
from diffusion.text.encode import encode_prompt, encoders_from_checkpoint
from diffusion.text.tokenizer import CLIPTokenizer
from latentgraph.cli import main
from tests.diffusion.ksampler_recipe import ksample
from training import decoder_stage, text_stage, unet_stage, vae_stage
from training.export import CHECKPOINT_NAME

# 64 images (the floor); 10 VAE steps (6 + 4 in the restart cycle)
SMOKE = ["--steps-scale", "0.004", "--seed", "7"]


@pytest.fixture
def tiny_vae(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vae_stage, "BATCH", 4)
    monkeypatch.setattr(vae_stage, "SCALE_IMAGES", 8)
    monkeypatch.setattr(vae_stage, "SAVE_EVERY", 2)
    monkeypatch.setattr(text_stage, "BATCH", 8)
    monkeypatch.setattr(text_stage, "EVAL_EVERY", 2)
    monkeypatch.setattr(decoder_stage, "BATCH", 2)
    monkeypatch.setattr(unet_stage, "BATCH", 4)
    monkeypatch.setattr(unet_stage, "UNET_STEPS", 1_500)  # 6 steps at --steps-scale 0.004
    monkeypatch.setattr(unet_stage, "GAP_EVERY", 2)
    monkeypatch.setattr(unet_stage, "GAP_BATCH", 8)


def _lines(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_smoke_run_writes_outputs_and_resumes(
    tmp_path: Path, tiny_vae: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["train-demo", "--out", str(out), *SMOKE, "--stage", "all"]) == 0
    err = capsys.readouterr().err
    assert "vae 10/10" in err and "text 6/6" in err and "unet 6/6" in err
    vae_done = json.loads((out / "vae" / "done.json").read_text())
    assert vae_done["steps"] == 10 and abs(vae_done["scaled_latent_std"] - 1.0) < 1e-3
    assert [r["step"] for r in _lines(out / "vae" / "loss.jsonl")] == list(range(1, 11))
    assert len((out / "data" / "labels.jsonl").read_text().splitlines()) == 64
    vae = load_vae(out / "vae" / "vae.safetensors")
    assert vae.encode(torch.zeros(1, 3, 128, 128)).shape == (1, 4, 16, 16)
    stamp = (out / "vae" / "vae.safetensors").stat().st_mtime_ns
    assert main(["train-demo", "--out", str(out), *SMOKE, "--stage", "vae"]) == 0
    assert "ran nothing" in capsys.readouterr().out
    assert (out / "vae" / "vae.safetensors").stat().st_mtime_ns == stamp
    text_log = _lines(out / "text" / "loss.jsonl")
    assert [r["step"] for r in text_log] == list(range(1, 7)) and "held_acc" in text_log[-1]
    unet_log = _lines(out / "unet" / "loss.jsonl")
    assert [r["step"] for r in unet_log] == list(range(1, 7)) and "gap" in unet_log[-1]


def test_exported_checkpoint_loads_and_generates(tmp_path: Path, tiny_vae: None) -> None:
    out = tmp_path / "run"
    assert main(["train-demo", "--out", str(out), *SMOKE]) == 0
    path = out / CHECKPOINT_NAME
    with safe_open(str(path), "pt") as fh:
        markers = {k: fh.get_tensor(k) for k in ("v_pred", "ztsnr")}  # ComfyUI's marker keys
        weights = [k for k in fh.keys() if k not in markers]  # noqa: SIM118
        assert {fh.get_tensor(k).dtype for k in weights} == {torch.float16}
    assert all(m.numel() == 0 for m in markers.values())
    ckpt = load_checkpoint(path)
    assert ckpt.layout.family == "sd1" and ckpt.prediction == "v" and ckpt.vae is not None
    assert ckpt.layout.unet == unet_stage.UNET_CONFIG
    encoders = encoders_from_checkpoint(ckpt.text_encoders)
    tokenizer = CLIPTokenizer()
    prompt = "a large red circle on a blue background, top left"
    pos, neg = (encode_prompt(p, encoders, tokenizer) for p in (prompt, ""))
    assert pos.cond.shape == (1, 77, text_stage.TEXT_CONFIG.width)
    text = text_stage.load_text_encoder(out / "text" / "text.safetensors")
    for p, enc in ((prompt, pos), ("", neg)):  # training sees what the runtime prompt path gives
        trained = unet_stage.context_states(text, text_stage.tokenize([p]))
        assert torch.allclose(trained, enc.cond, atol=2e-2), (trained - enc.cond).abs().max()
    model = GuidedModel.from_unet(ckpt.unet, unet_stage.SAMPLING, ckpt.latent_format)
    latent = ksample(model, torch.zeros(2, 4, 16, 16), [Cond(pos.cond)], [Cond(neg.cond)],
                    seed=1, cfg=3.0, sampler_name="euler", steps=3)
    assert latent.shape == (2, 4, 16, 16) and torch.isfinite(latent).all()
    image = ckpt.vae.decode(latent)
    assert image.shape == (2, 3, 128, 128) and torch.isfinite(image).all()


def test_interrupted_vae_resumes_to_the_same_weights(tmp_path: Path, tiny_vae: None) -> None:
    args = [*SMOKE[:1], "0.005", *SMOKE[2:]]  # 8 + 5 VAE steps, saved every 2
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


def test_interrupted_unet_resumes_to_the_same_weights(tmp_path: Path, tiny_vae: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unet_stage, "SAVE_EVERY", 2)
    straight, resumed = tmp_path / "a", tmp_path / "b"
    for stage in ("data", "vae", "text", "decoder"):
        assert main(["train-demo", "--out", str(straight), *SMOKE, "--stage", stage]) == 0
    shutil.copytree(straight, resumed)
    assert main(["train-demo", "--out", str(straight), *SMOKE, "--stage", "unet"]) == 0
    real_save = unet_stage._save

    def crash_after_2(folder: Path, unet: object, opt: object, ema: object, step: int) -> None:
        real_save(folder, unet, opt, ema, step)  # type: ignore[arg-type]
        if step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(unet_stage, "_save", crash_after_2)
    with pytest.raises(KeyboardInterrupt):
        main(["train-demo", "--out", str(resumed), *SMOKE, "--stage", "unet"])
    monkeypatch.setattr(unet_stage, "_save", real_save)
    assert main(["train-demo", "--out", str(resumed), *SMOKE, "--stage", "unet"]) == 0
    a, b = (torch.load(o / "unet" / "state.pt", weights_only=True) for o in (straight, resumed))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert len(a["ema"]) == len(b["ema"]) > 0  # the moving average resumes too
    assert all(torch.equal(x, y) for x, y in zip(a["ema"], b["ema"], strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a["ema"], a["model"].values(), strict=False))
    assert _lines(straight / "unet" / "loss.jsonl") == _lines(resumed / "unet" / "loss.jsonl")


def test_schedule_reaches_zero_snr_and_v_loss_targets_v() -> None:
    ac = unet_stage.alphas_cumprod()  # (1000,)
    assert ac[-1] < 1e-7 and ac[0] > 0.99 and bool((ac[1:] < ac[:-1]).all())

    class Oracle(torch.nn.Module):  # returns the true v for the batch below
        def forward(self, xt: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
            a = ac[t.long()].view(-1, 1, 1, 1)
            return a.sqrt() * eps - (1 - a).sqrt() * x0

    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 4, 4, 4, generator=gen), torch.randn(3, 4, 4, 4, generator=gen)
    t = torch.tensor([0, 500, 999])
    assert unet_stage.v_loss(Oracle(), ac, x0, torch.zeros(3, 77, 8), t, eps).item() < 1e-10
    # At the last timestep v is -x0 (the input is pure noise): the loss is an x0 loss.
    wrong = unet_stage.v_loss(Oracle(), ac, x0 + 1.0, torch.zeros(3, 77, 8), t[2:].expand(3), eps)
    assert wrong.item() == pytest.approx(1.0, rel=1e-3)
    assert unet_stage._lr(0, 5_000) < unet_stage._lr(100, 5_000) == pytest.approx(unet_stage.LR)
    assert unet_stage._lr(4_999, 5_000) == pytest.approx(unet_stage.LR / 10, rel=1e-3)
