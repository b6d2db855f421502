"""UI→API conversion of the real ComfyUI templates in ``comfyui-workflow-templates-json``
(pinned to 0.1.123 in the ``test`` extra).

Every template whose node types all exist in the stub registry (tests/executor/ui_workflow/
templates_registry.py) is converted; the others are skipped by name with the missing types.
Structural facts are checked on each result, and the widget values are compared with the
``widgets_values_named`` object that newer frontends save beside the positional list: an
independent record of which value belongs to which widget name. The package ships no
API-format counterparts of the templates, so there is no whole-prompt comparison.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

import pytest

from executor.ui_workflow import convert_ui_workflow
from executor.ui_workflow.graph import VIRTUAL_TYPES
from executor.ui_workflow.widgets import map_positional, widget_inputs
from nodes.api import CoercionError, Link, Registry
from tests.executor.ui_workflow.templates_registry import build_registry, is_free_combo

PACKAGE = "comfyui_workflow_templates_json"
# Converted with the pinned package version; a change means the package or registry changed.
EXPECTED_CONVERTED = 38
# Nodes whose saved values do not match the newest declaration, and why.
# ImageScaleToTotalPixels: saved before ``resolution_steps`` was added (fewer values).
# GetImageSize: the editor shows the measured size in an extra display-only widget.
DISPLAY_ONLY_WIDGETS = frozenset({"GetImageSize"})


@cache
def registry() -> Registry:
    return build_registry()


@cache
def templates() -> dict[str, dict[str, Any]]:
    folder = resources.files(PACKAGE) / "templates"
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json") and not entry.name.startswith("index"):
            found[entry.name] = json.loads(entry.read_text(encoding="utf-8"))
    return found


def all_ui_nodes(workflow: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from workflow["nodes"]
    for definition in workflow.get("definitions", {}).get("subgraphs", []):
        yield from definition["nodes"]


def missing_types(workflow: Mapping[str, Any]) -> set[str]:
    subgraph_ids = {s["id"] for s in workflow.get("definitions", {}).get("subgraphs", [])}
    known = subgraph_ids | VIRTUAL_TYPES
    return {n["type"] for n in all_ui_nodes(workflow) if n["type"] not in known
            and n["type"] not in registry()}


@cache
def partition() -> tuple[list[str], dict[str, str]]:
    converted, skipped = [], {}
    for name, data in sorted(templates().items()):
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
            skipped[name] = "not a workflow"
            continue
        missing = missing_types(data)
        if missing:
            skipped[name] = f"node types not in the stub registry: {sorted(missing)}"
        else:
            converted.append(name)
    return converted, skipped


def ui_node_for(workflow: Mapping[str, Any], exec_id: str) -> Mapping[str, Any]:
    """The UI node behind an API id such as ``"75:61"``, walking through subgraph instances."""
    definitions = {s["id"]: s for s in workflow.get("definitions", {}).get("subgraphs", [])}
    nodes = workflow["nodes"]
    found: Mapping[str, Any] = {}
    for part in exec_id.split(":"):
        found = next(n for n in nodes if str(n["id"]) == part)
        if found["type"] in definitions:
            nodes = definitions[found["type"]]["nodes"]
    return found


def test_template_counts() -> None:
    converted, skipped = partition()
    assert len(converted) == EXPECTED_CONVERTED, skipped
    assert len(converted) + len(skipped) == len(templates())
    assert skipped["fuse_options.json"] == "not a workflow"


@pytest.mark.parametrize("name", partition()[0])
def test_template_converts_to_a_sound_prompt(name: str) -> None:
    workflow = templates()[name]
    prompt = convert_ui_workflow(workflow, registry())
    assert prompt, name
    assert any(registry().get(e["class_type"]).output_node for e in prompt.values())
    for node_id, entry in prompt.items():
        cls = registry().get(entry["class_type"])  # no UI-only or subgraph types remain
        assert entry["class_type"] not in VIRTUAL_TYPES
        declared = {i.name: i for i in cls.inputs}
        for required in (i.name for i in cls.inputs if not i.optional):
            assert required in entry["inputs"], (node_id, required)
        for input_name, value in entry["inputs"].items():
            if isinstance(value, list):
                origin = prompt.get(value[0])
                assert origin is not None, (node_id, input_name, value)
                outputs = registry().get(origin["class_type"]).outputs
                assert isinstance(value[1], int) and 0 <= value[1] < len(outputs)
                assert isinstance(declared[input_name], Link) or value[0] != node_id
            else:
                check_constant(node_id, declared[input_name], value)


def check_constant(node_id: str, declared: Any, value: Any) -> None:
    assert not isinstance(declared, Link), (node_id, declared.name, value)
    if is_free_combo(declared):
        assert isinstance(value, str) and value, (node_id, declared.name, value)
        return
    try:
        coerced = declared.coerce(value)
    except CoercionError as exc:
        pytest.fail(f"node {node_id} input {declared.name}: {exc}")
    assert declared.check(coerced) is None, (node_id, declared.name, value)
    if declared.type_name == "INT":
        assert isinstance(value, int) and not isinstance(value, bool)


@pytest.mark.parametrize("name", partition()[0])
def test_template_widget_values_match_their_saved_names(name: str) -> None:
    workflow = templates()[name]
    prompt = convert_ui_workflow(workflow, registry())
    compared = 0
    for node_id, entry in prompt.items():
        ui_node = ui_node_for(workflow, node_id)
        named = ui_node.get("widgets_values_named")
        if not isinstance(named, dict):
            continue
        linked = {i["name"] for i in ui_node.get("inputs", []) if i.get("link") is not None}
        for widget in widget_inputs(registry().get(entry["class_type"])):
            if widget.name in named and widget.name not in linked:
                assert entry["inputs"][widget.name] == named[widget.name], (node_id, widget.name)
                compared += 1
    assert compared or not any("widgets_values_named" in n for n in all_ui_nodes(workflow))


@pytest.mark.parametrize("name", partition()[0])
def test_template_positional_values_fit_the_declarations(name: str) -> None:
    for ui_node in all_ui_nodes(templates()[name]):
        values = ui_node.get("widgets_values")
        if ui_node["type"] not in registry() or not isinstance(values, list):
            continue
        widgets = widget_inputs(registry().get(ui_node["type"]))
        _, expected = map_positional(widgets, values)
        if ui_node["type"] in DISPLAY_ONLY_WIDGETS:
            continue
        assert len(values) <= expected, (ui_node["id"], ui_node["type"], values)
        if len(values) < expected:  # saved by an older version: only trailing widgets missing
            assert len(values) >= len([w for w in widgets if not w.optional]) - 1
