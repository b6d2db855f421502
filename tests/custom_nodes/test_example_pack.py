"""``custom_nodes/example_pack``: each node's behaviour, its declaration in /object_info, the
fingerprint following the file, progress and cancellation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from custom_nodes.example_pack.image_nodes import LatentNoise
from custom_nodes.example_pack.text_nodes import ReadTextFile
from executor.engine import Engine
from executor.jobs import JobRequest
from latentgraph.app import build_engine, build_registry, folders_under
from nodes.api import NodeInterrupted
from nodes.api.testing import StubContext
from nodes.payloads import Latent
from nodes.plugins import PluginSettings, load_plugins
from nodes.plugins.host import uninstall
from tests.workflows.support import cached_output

PACKS = Path(__file__).resolve().parents[2] / "custom_nodes"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    folders = folders_under(tmp_path)
    registry = build_registry(folders)
    load_plugins(registry, PluginSettings(folders=(PACKS,)))
    yield build_engine(registry, folders)
    uninstall()


def test_latent_noise_is_seeded_reports_progress_and_stops_when_cancelled() -> None:
    latent = Latent(torch.zeros(3, 4, 2, 2), batch_index=(5, 6, 7))
    ctx = StubContext()
    (first,) = LatentNoise().run(ctx, latent, seed=3, amount=0.5)
    (again,) = LatentNoise().run(StubContext(), latent, seed=3, amount=0.5)
    assert torch.equal(first.samples, again.samples) and first.samples.std() > 0.2
    assert first.batch_index == (5, 6, 7) and torch.count_nonzero(latent.samples) == 0
    assert ctx.progress_reports == [(1, 3), (2, 3), (3, 3)]
    stopped = StubContext()
    stopped.cancel()
    with pytest.raises(NodeInterrupted):
        LatentNoise().run(stopped, latent, seed=3, amount=0.5)


def test_the_pack_declares_its_nodes(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "input" / "b.txt").write_text("b")
    (tmp_path / "input" / "a.txt").write_text("a")
    info = engine.registry.object_info()
    assert info["ReadTextFile"]["input"]["required"]["file"][0] == ["a.txt", "b.txt"]
    assert info["LatentNoise"]["python_module"] == "custom_nodes.example_pack"
    assert info["Brightness"]["display_name"] == "Brightness (example)"
    assert info["ShowText"]["output_node"] is True


def test_the_file_fingerprint_reruns_the_reader_when_the_file_changes(engine: Engine,
                                                                       tmp_path: Path) -> None:
    text = tmp_path / "input" / "t.txt"
    text.write_text("one")
    prompt = {"1": {"class_type": "ReadTextFile", "inputs": {"file": "t.txt"}},
              "2": {"class_type": "ShowText", "inputs": {"text": ["1", 0]}}}
    assert engine.execute(JobRequest("a", prompt)).outputs["2"] == {"text": ["one"]}
    assert engine.execute(JobRequest("b", prompt)).executed == []
    text.write_text("two")
    changed = engine.execute(JobRequest("c", prompt))
    assert changed.outputs["2"] == {"text": ["two"]} and changed.executed == ["1", "2"]


def test_read_text_file_refuses_names_outside_the_input_folder(tmp_path: Path) -> None:
    from nodes.api import FingerprintContext, Folders

    folders = Folders(tmp_path, tmp_path, tmp_path)
    ctx = FingerprintContext(node_id="1", folders=folders)
    refusal = ReadTextFile.validate(ctx, file="../etc/passwd")
    assert isinstance(refusal, str) and "'../etc/passwd'" in refusal
    assert ReadTextFile.validate(ctx, file="missing.txt") == \
        "file 'missing.txt' is not in the input folder"


def test_brightness_in_a_workflow(engine: Engine) -> None:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8,
                                                           "batch_size": 1, "color": 0x404040}},
              "2": {"class_type": "Brightness", "inputs": {"image": ["1", 0], "factor": 2.0}},
              "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
    result = engine.execute(JobRequest("x", prompt))
    assert result.ok, result.failure
    brighter = cached_output(engine, prompt, "2")  # (1, 8, 8, 3)
    torch.testing.assert_close(brighter, torch.full((1, 8, 8, 3), 2 * 0x40 / 255))
