"""Real image workflows end to end on tiny checkpoints of each family, 64×64, few steps.

Each API-format fixture (a ``POST /prompt`` body with a UI ``workflow`` in extra_pnginfo) runs
through ``latentgraph run`` in-process: the PNGs have the expected size and count and carry the
``prompt`` and ``workflow`` chunks. Through an engine built by the composition root, a rerun
with only a seed changed re-executes exactly the seeded node and what follows, reads no model
file again and changes the image. Inpainting is checked at the latent level: where the noise
mask is 0 the sampled latent is bit-equal to its input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from diffusion.guidance import reshape_mask
from executor.jobs import JobOutcome, JobRequest
from executor.plan import Reason
from latentgraph.cli import main
from nodes.payloads import Latent
from tests.workflows.support import (
    FIXTURES,
    SAMPLERS,
    Workspace,
    cached_output,
    descendants,
    load_fixture,
)


@dataclass(frozen=True)
class Case:
    size: tuple[int, int]  # PNG (width, height)
    seed_node: str  # the node whose seed the rerun changes
    images: int = 1


CASES: dict[str, Case] = {
    "txt2img_sd1": Case((64, 64), "3", images=2),
    "txt2img_sd2v": Case((64, 64), "3"),
    "txt2img_sdxl": Case((64, 64), "3"),
    "img2img": Case((64, 64), "3"),
    "inpaint_vae": Case((64, 64), "3"),
    "inpaint_noise_mask": Case((64, 64), "3"),
    "outpaint": Case((96, 72), "3"),
    "hires_fix": Case((128, 128), "3"),
    "area_clip_skip": Case((128, 64), "3"),
    "sdxl_refiner": Case((64, 64), "3"),
    "turbo_custom": Case((64, 64), "3"),
    "custom_advanced": Case((64, 64), "29"),
}
# (sampler node, node whose LATENT went in): the inpainting / outpainting workflows
MASKED = {"inpaint_vae": ("3", "11"), "inpaint_noise_mask": ("3", "12"), "outpaint": ("3", "11")}


def test_every_fixture_has_a_case() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(CASES)


def run_cli(workspace: Workspace, name: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(["run", str(FIXTURES / f"{name}.json"), "--base-dir", str(workspace.base),
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize("name", sorted(CASES))
def test_latentgraph_run_saves_pngs_with_metadata(
    name: str, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    body = load_fixture(name)
    result = run_cli(workspace, name, capsys)
    assert result["status"] == "success"
    images = [i for ui in result["outputs"].values() for i in ui.get("images", [])]
    assert len(images) == CASES[name].images
    for item in images:
        with Image.open(workspace.output / item["subfolder"] / item["filename"]) as png:
            assert png.size == CASES[name].size
            assert png.mode == "RGB"
            assert json.loads(png.text["prompt"]) == body["prompt"]
            assert json.loads(png.text["workflow"]) == body["extra_data"]["extra_pnginfo"][
                "workflow"]


def _execute(workspace_engine: Any, prompt: dict[str, Any], job: str,
             targets: tuple[str, ...] | None = None) -> JobOutcome:
    result: JobOutcome = workspace_engine.execute(JobRequest(job, prompt, targets))
    assert result.ok, result.failure
    return result


def _png_bytes(workspace: Workspace, result: JobOutcome) -> list[bytes]:
    items = [i for ui in result.outputs.values() for i in ui.get("images", [])]
    return [(workspace.output / i["subfolder"] / i["filename"]).read_bytes() for i in items]


@pytest.mark.parametrize("name", sorted(CASES))
def test_rerun_with_new_seed_runs_only_the_sampler_and_what_follows(
    name: str, workspace: Workspace
) -> None:
    prompt = load_fixture(name)["prompt"]
    engine = workspace.engine()
    first = _execute(engine, prompt, "first")
    loads = engine.ports.models.loads  # type: ignore[attr-defined]
    seeded = CASES[name].seed_node
    seed_input = SAMPLERS[prompt[seeded]["class_type"]]
    prompt[seeded]["inputs"][seed_input] += 1
    second = _execute(engine, prompt, "second")

    rerun = descendants(prompt, seeded)
    assert set(second.executed) == rerun
    assert {n for n, r in second.reasons.items() if r is Reason.INPUTS_CHANGED} == rerun
    assert set(second.cached) == set(prompt) - rerun
    assert engine.ports.models.loads == loads  # type: ignore[attr-defined]  # no weights read again
    assert _png_bytes(workspace, first) != _png_bytes(workspace, second)


@pytest.mark.parametrize("name", sorted(MASKED))
def test_unmasked_latent_is_bit_equal_after_sampling(name: str, workspace: Workspace) -> None:
    prompt = load_fixture(name)["prompt"]
    sampler, source = MASKED[name]
    engine = workspace.engine()
    result = _execute(engine, prompt, "masked", targets=(sampler, source))
    assert set(result.executed) == set(prompt) - descendants(prompt, sampler) | {sampler}
    before: Latent = cached_output(engine, prompt, source)
    after: Latent = cached_output(engine, prompt, sampler)
    assert before.noise_mask is not None and after.noise_mask is before.noise_mask
    keep = reshape_mask(before.noise_mask, before.samples.shape) == 0  # (B, 4, h, w)
    assert 0 < int(keep.sum()) < keep.numel()
    assert torch.equal(after.samples[keep], before.samples[keep])
    assert not torch.equal(after.samples[~keep], before.samples[~keep])


def test_seed_change_on_second_hires_pass_reuses_the_first(workspace: Workspace) -> None:
    prompt = load_fixture("hires_fix")["prompt"]
    engine = workspace.engine()
    _execute(engine, prompt, "first")
    prompt["15"]["inputs"]["seed"] = 99
    second = _execute(engine, prompt, "second")
    assert set(second.executed) == {"15", "8", "9"}
    assert {"3", "14"} <= set(second.cached)


def test_fixture_paths_are_api_format() -> None:
    for path in FIXTURES.glob("*.json"):
        body = json.loads(Path(path).read_text())
        assert set(body) == {"prompt", "extra_data"}
        assert all("class_type" in node and "inputs" in node for node in body["prompt"].values())
