"""UI workflow → API prompt conversion on hand-written workflows (``ui_fixtures/``).

Each ``<name>.json`` is a UI workflow and ``<name>.api.json`` the exact prompt the ComfyUI
frontend would queue for it:

- basic_v04: schema 0.4 array links, KSampler's control_after_generate value, titles, Note and
  MarkdownNote ignored.
- links_v1_values: schema 1 link objects and ``state``; LoadImage's upload value; an old
  ``true`` control value (KSamplerAdvanced); a seed saved without any control value; widgets
  given as an object by name.
- widgets_primitives: widgets converted to inputs (a link wins, the positional slot stays),
  PrimitiveNode values flowing into every target (also through a Reroute), a real
  PrimitiveInt node linked into a seed, an array constant wrapped as ``{"__value__": …}``.
- reroute_mute_bypass: a Reroute chain, a muted node dropped with the links to it, a chain of
  two bypassed LoRA loaders passing MODEL and CLIP through, a bypassed ControlNet apply that
  hands each output its own input (same slot first), a bypassed VAEDecode with no IMAGE input
  (its consumer's input is dropped).
- subgraphs: ``definitions.subgraphs`` with input/output nodes -10/-20, two instances of one
  definition, a nested subgraph (ids ``"30:3:5"``), promoted widget values from the instance
  (legacy positional with a control value, and by name), inner defaults where the instance has
  none, a subgraph input wired straight to an output.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from executor.ui_workflow import WorkflowConversionError, convert_ui_workflow, is_ui_workflow
from nodes.api import Registry
from tests.executor.ui_workflow.templates_registry import build_registry

FIXTURES = Path(__file__).parent / "ui_fixtures"
CASES = sorted(p.name.removesuffix(".api.json") for p in FIXTURES.glob("*.api.json"))


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry()


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def node(workflow: dict[str, Any], node_id: int) -> dict[str, Any]:
    return next(n for n in workflow["nodes"] if n["id"] == node_id)


def test_every_fixture_has_an_expected_prompt() -> None:
    workflows = sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.endswith(".api.json"))
    assert workflows == [f"{name}.json" for name in CASES]
    assert len(CASES) == 5


@pytest.mark.parametrize("name", CASES)
def test_fixture_converts_to_the_exact_api_prompt(name: str, registry: Registry) -> None:
    expected = json.loads((FIXTURES / f"{name}.api.json").read_text())
    assert convert_ui_workflow(load(name), registry) == expected


def test_widget_values_come_first_in_input_order(registry: Registry) -> None:
    prompt = convert_ui_workflow(load("basic_v04"), registry)
    assert list(prompt["3"]["inputs"]) == [
        "seed", "steps", "cfg", "sampler_name", "scheduler", "denoise",
        "model", "positive", "negative", "latent_image",
    ]


def test_is_ui_workflow_tells_the_formats_apart(registry: Registry) -> None:
    workflow = load("basic_v04")
    assert is_ui_workflow(workflow)
    api = convert_ui_workflow(workflow, registry)
    assert not is_ui_workflow(api)
    assert not is_ui_workflow({"nodes": {"class_type": "KSampler", "inputs": {}}})
    assert not is_ui_workflow([workflow])
    assert not is_ui_workflow(None)


def test_an_api_prompt_is_refused(registry: Registry) -> None:
    with pytest.raises(WorkflowConversionError, match="not a UI workflow"):
        convert_ui_workflow({"1": {"class_type": "SaveImage", "inputs": {}}}, registry)


def test_unknown_node_type_names_the_node(registry: Registry) -> None:
    workflow = load("basic_v04")
    node(workflow, 7)["type"] = "FancyCustomEncoder"
    with pytest.raises(WorkflowConversionError) as caught:
        convert_ui_workflow(workflow, registry)
    assert caught.value.node_id == "7"
    assert caught.value.node_type == "FancyCustomEncoder"
    assert str(caught.value).startswith("node 7 (FancyCustomEncoder): node type")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("mode", [2, 4])
def test_unknown_node_type_is_fine_when_muted_or_bypassed(mode: int, registry: Registry) -> None:
    workflow = load("basic_v04")
    node(workflow, 8).update(type="FancyCustomDecoder", mode=mode)
    prompt = convert_ui_workflow(workflow, registry)
    assert "8" not in prompt
    # bypassed: SaveImage wants IMAGE, the decoder only has LATENT and VAE inputs
    assert prompt["9"]["inputs"] == {"filename_prefix": "ComfyUI"}


def test_unknown_node_inside_a_subgraph_names_its_path(registry: Registry) -> None:
    workflow = load("subgraphs")
    inner = workflow["definitions"]["subgraphs"][1]["nodes"][0]
    inner["type"] = "MysteryUpscaler"
    with pytest.raises(WorkflowConversionError) as caught:
        convert_ui_workflow(workflow, registry)
    assert caught.value.node_id == "30:3:5"
    assert caught.value.node_type == "MysteryUpscaler"


def test_legacy_group_nodes_get_a_hint(registry: Registry) -> None:
    workflow = load("basic_v04")
    node(workflow, 5)["type"] = "workflow>latent"
    with pytest.raises(WorkflowConversionError, match="legacy group node"):
        convert_ui_workflow(workflow, registry)


def test_link_to_a_missing_node_names_the_consumer(registry: Registry) -> None:
    workflow = load("basic_v04")
    links = workflow["links"]
    workflow["links"] = [[9, 99, 0, 9, 0, "IMAGE"] if lk[0] == 9 else lk for lk in links]
    with pytest.raises(WorkflowConversionError) as caught:
        convert_ui_workflow(workflow, registry)
    assert caught.value.node_id == "9"
    assert "node 99" in str(caught.value)


def test_input_naming_a_missing_link_is_an_error(registry: Registry) -> None:
    workflow = load("basic_v04")
    node(workflow, 8)["inputs"][1]["link"] = 500
    with pytest.raises(WorkflowConversionError, match="link 500") as caught:
        convert_ui_workflow(workflow, registry)
    assert (caught.value.node_id, caught.value.node_type) == ("8", "VAEDecode")


def test_malformed_link_is_an_error(registry: Registry) -> None:
    workflow = load("basic_v04")
    workflow["links"].append([10, 4])
    with pytest.raises(WorkflowConversionError, match="malformed link"):
        convert_ui_workflow(workflow, registry)


def test_reroute_cycle_is_reported_not_recursed(registry: Registry) -> None:
    workflow = load("reroute_mute_bypass")
    node(workflow, 2)["inputs"][0]["link"] = 90
    workflow["links"].append([90, 3, 0, 2, 0, "MODEL"])
    with pytest.raises(WorkflowConversionError, match="circular"):
        convert_ui_workflow(workflow, registry)


def test_widgets_values_of_a_wrong_type_name_the_node(registry: Registry) -> None:
    workflow = load("basic_v04")
    node(workflow, 5)["widgets_values"] = "512x512"
    with pytest.raises(WorkflowConversionError, match="widgets_values") as caught:
        convert_ui_workflow(workflow, registry)
    assert caught.value.node_id == "5"


def test_named_values_are_used_when_positions_do_not_fit(registry: Registry) -> None:
    workflow = load("basic_v04")
    sampler = node(workflow, 3)
    sampler["widgets_values"] = [1, "fixed", "UI-only", 30, 5, "euler", "karras", 0.9]
    sampler["widgets_values_named"] = {
        "seed": 1, "control_after_generate": "fixed", "steps": 30, "cfg": 5,
        "sampler_name": "euler", "scheduler": "karras", "denoise": 0.9,
    }
    inputs = convert_ui_workflow(workflow, registry)["3"]["inputs"]
    assert (inputs["steps"], inputs["scheduler"], inputs["denoise"]) == (30, "karras", 0.9)
    assert "control_after_generate" not in inputs


def test_extra_trailing_widget_values_are_ignored(registry: Registry) -> None:
    workflow = load("basic_v04")
    node(workflow, 5)["widgets_values"] = [640, 480, 3, "a display-only widget"]
    inputs = convert_ui_workflow(workflow, registry)["5"]["inputs"]
    assert inputs == {"width": 640, "height": 480, "batch_size": 3}


def test_widgets_without_saved_values_get_their_defaults(registry: Registry) -> None:
    """An older save lacks widgets added since; the editor sends their defaults."""
    workflow = load("basic_v04")
    node(workflow, 5)["widgets_values"] = [640]
    del node(workflow, 3)["widgets_values"]
    prompt = convert_ui_workflow(workflow, registry)
    assert prompt["5"]["inputs"] == {"width": 640, "height": 512, "batch_size": 1}
    assert {k: v for k, v in prompt["3"]["inputs"].items() if not isinstance(v, list)} == {
        "seed": 0, "steps": 20, "cfg": 8.0, "sampler_name": "euler", "scheduler": "simple",
        "denoise": 1.0,
    }


def test_file_pickers_without_a_saved_value_stay_unset(registry: Registry) -> None:
    workflow = load("links_v1_values")
    node(workflow, 2)["widgets_values"] = []
    assert convert_ui_workflow(workflow, registry)["2"]["inputs"] == {}


def test_linked_widget_wins_even_when_the_link_is_unresolvable(registry: Registry) -> None:
    """A converted widget fed by a bypassed node without a matching input keeps its value."""
    workflow = load("widgets_primitives")
    node(workflow, 10)["mode"] = 4  # PrimitiveInt has no inputs to pass through
    assert convert_ui_workflow(workflow, registry)["20"]["inputs"]["seed"] == 5


def test_muted_primitive_int_removes_the_linked_seed(registry: Registry) -> None:
    workflow = load("widgets_primitives")
    node(workflow, 10)["mode"] = 2
    prompt = convert_ui_workflow(workflow, registry)
    assert "10" not in prompt
    assert "seed" not in prompt["20"]["inputs"]


def test_bypass_prefers_the_input_in_the_same_slot(registry: Registry) -> None:
    """ComfyUI's frontend rule: the same slot when its type fits, else the first match."""
    prompt = convert_ui_workflow(load("reroute_mute_bypass"), registry)
    assert prompt["13"]["inputs"]["positive"] == ["7", 0]
    assert prompt["13"]["inputs"]["negative"] == ["8", 0]


def test_bypass_falls_back_to_the_first_input_of_the_type(registry: Registry) -> None:
    workflow = load("reroute_mute_bypass")
    control = node(workflow, 11)
    control["inputs"] = [control["inputs"][i] for i in (2, 3, 0, 1, 4)]  # types moved
    for link in workflow["links"]:
        if link[3] == 11:
            link[4] = {2: 0, 3: 1, 0: 2, 1: 3}[link[4]]
    inputs = convert_ui_workflow(workflow, registry)["13"]["inputs"]
    assert inputs["positive"] == ["7", 0]
    assert inputs["negative"] == ["7", 0]


def test_muted_subgraph_instance_drops_its_inner_nodes(registry: Registry) -> None:
    workflow = load("subgraphs")
    node(workflow, 31)["mode"] = 2
    prompt = convert_ui_workflow(workflow, registry)
    assert not [k for k in prompt if k.startswith("31:")]
    assert prompt["42"]["inputs"] == {"vae": ["1", 2]}
    assert "30:1" in prompt


def test_bypassed_subgraph_instance_passes_its_latent_through(registry: Registry) -> None:
    workflow = load("subgraphs")
    node(workflow, 30)["mode"] = 4
    prompt = convert_ui_workflow(workflow, registry)
    assert not [k for k in prompt if k.startswith("30:")]
    assert prompt["40"]["inputs"]["samples"] == ["3", 0]
    assert prompt["41"]["inputs"]["samples"] == ["3", 0]


def test_linked_subgraph_input_overrides_the_promoted_widget(registry: Registry) -> None:
    workflow = load("subgraphs")
    workflow["nodes"].append({
        "id": 50, "type": "PrimitiveInt", "mode": 0, "inputs": [],
        "outputs": [{"name": "INT", "type": "INT", "links": [60]}], "widgets_values": [64, "fixed"],
    })
    workflow["links"].append([60, 50, 0, 31, 3])
    seed_slot = copy.deepcopy(node(workflow, 30)["inputs"][3])
    node(workflow, 31)["inputs"].append({**seed_slot, "link": 60})
    prompt = convert_ui_workflow(workflow, registry)
    assert prompt["31:1"]["inputs"]["steps"] == ["50", 0]
    assert prompt["30:1"]["inputs"]["steps"] == 30


def test_primitive_node_feeds_a_promoted_subgraph_widget(registry: Registry) -> None:
    workflow = load("subgraphs")
    workflow["nodes"].append({
        "id": 51, "type": "PrimitiveNode", "mode": 0, "inputs": [],
        "outputs": [
            {"name": "FLOAT", "type": "FLOAT", "links": [61], "widget": {"name": "denoise"}}
        ],
        "widgets_values": [0.25],
    })
    workflow["links"].append([61, 51, 0, 31, 3, "FLOAT"])
    node(workflow, 31)["inputs"].append(
        {"name": "denoise", "type": "FLOAT", "widget": {"name": "denoise"}, "link": 61}
    )
    prompt = convert_ui_workflow(workflow, registry)
    assert prompt["31:1"]["inputs"]["denoise"] == 0.25
    assert "51" not in prompt


def test_subgraph_that_contains_itself_is_an_error(registry: Registry) -> None:
    workflow = load("subgraphs")
    inner = workflow["definitions"]["subgraphs"][1]["nodes"][0]
    inner["type"] = "7a1c0000-0000-4000-8000-00000000000a"
    with pytest.raises(WorkflowConversionError, match="contains itself"):
        convert_ui_workflow(workflow, registry)


def test_conversion_does_not_modify_the_workflow(registry: Registry) -> None:
    for name in CASES:
        workflow = load(name)
        before = copy.deepcopy(workflow)
        convert_ui_workflow(workflow, registry)
        assert workflow == before
