"""TEMPLATE — tests for a node pack. Copy this file next to your pack, change ``PACK_DIR`` and
the imports, and keep the three kinds of test it shows:

1. a node on its own, with a stub run context (fast: no engine, no model);
2. the pack loaded the way ``latentgraph serve`` / ``run`` load it, and a small workflow run by
   the engine (declarations, validation, caching and your ``register`` together);
3. validation refusing bad inputs before anything runs.

It runs as it is against ``custom_nodes/example_pack``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from executor.errors import PromptError
from executor.jobs import JobRequest
from latentgraph.app import build_engine, build_registry, folders_under
from nodes.api.testing import StubContext
from nodes.plugins import PluginSettings, load_plugins
from nodes.plugins.host import uninstall

PACK_DIR = Path(__file__).resolve().parents[2] / "custom_nodes" / "example_pack"


# 1. one node, a stub context -----------------------------------------------------------------
def test_a_node_on_its_own() -> None:
    from custom_nodes.example_pack.image_nodes import Brightness

    image = torch.full((1, 4, 4, 3), 0.5)  # (B, H, W, C)
    ctx = StubContext()
    (brighter,) = Brightness().run(ctx, image=image, factor=1.5)
    assert torch.allclose(brighter, torch.full_like(image, 0.75))
    assert torch.equal(image, torch.full_like(image, 0.5))  # the input is never modified


# 2. the pack loaded like the server loads it, a workflow run by the engine -------------------
@pytest.fixture
def engine(tmp_path: Path) -> Iterator[object]:
    folders = folders_under(tmp_path)
    registry = build_registry(folders)
    reports = load_plugins(registry, PluginSettings(folders=(PACK_DIR.parent,),
                                                    disable_custom_nodes=True,
                                                    allow=frozenset({PACK_DIR.name})))
    assert [r.status for r in reports if r.name == PACK_DIR.name] == ["loaded"], reports
    (tmp_path / "input" / "hello.txt").write_text("hello from a file")
    yield build_engine(registry, folders)
    uninstall()


def test_the_pack_runs_in_the_engine(engine: object) -> None:
    prompt = {"1": {"class_type": "ReadTextFile", "inputs": {"file": "hello.txt"}},
              "2": {"class_type": "ShowText", "inputs": {"text": ["1", 0]}}}
    result = engine.execute(JobRequest("job-1", prompt))  # type: ignore[attr-defined]
    assert result.ok, result.failure
    assert result.outputs["2"] == {"text": ["hello from a file"]}


# 3. validation refuses bad inputs before anything runs ----------------------------------------
def test_bad_inputs_are_refused(engine: object) -> None:
    prompt = {"1": {"class_type": "ReadTextFile", "inputs": {"file": "missing.txt"}},
              "2": {"class_type": "ShowText", "inputs": {"text": ["1", 0]}}}
    with pytest.raises(PromptError) as refused:
        engine.execute(JobRequest("job-2", prompt))  # type: ignore[attr-defined]
    assert refused.value.node_errors["1"]["errors"][0]["type"] == "value_not_in_list"
