"""The merging, saving and LoRA-extraction nodes are declared as ComfyUI v0.3.64 declares them
(checked against ComfyUI's own /object_info, /work/shared/comfyui-sd-nodes-v0.3.64.json): names,
display names, categories, python_module, input order (hidden inputs included), widget options,
outputs, output_node, experimental."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodes.api import Registry
from nodes.builtin import BUILTIN_NODES, register_builtin_nodes
from nodes.models import MERGING_NODES

REFERENCE = Path("/work/shared/comfyui-sd-nodes-v0.3.64.json")
NAMES = ["ModelMergeSimple", "ModelMergeBlocks", "ModelMergeSubtract", "ModelMergeAdd",
         "CheckpointSave", "CLIPMergeSimple", "CLIPMergeSubtract", "CLIPMergeAdd", "CLIPSave",
         "VAESave", "ModelSave", "ModelMergeSD1", "ModelMergeSD2", "ModelMergeSDXL", "LoraSave"]
FIELDS = ("display_name", "category", "python_module", "output", "output_name", "output_node")


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    registry = Registry()
    register_builtin_nodes(registry)
    return registry.object_info()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} is not here")
    return json.loads(REFERENCE.read_text())["nodes"]  # type: ignore[no-any-return]


def _options(spec: list[Any]) -> tuple[Any, dict[str, Any]]:
    """(type or choices, options) of a V1 spec; ComfyUI's V3 COMBO spec as V1."""
    kind, options = spec[0], dict(spec[1]) if len(spec) > 1 else {}
    if kind == "COMBO":
        kind = options.pop("options")
        options.pop("multiselect", None)
    if options.get("multiline") is False:  # V3 spells out the default; V1 leaves it out
        del options["multiline"]
    return kind, options


def test_declarations_match_comfyui(info: dict[str, Any], reference: dict[str, Any]) -> None:
    assert sorted(n.type_name for n in MERGING_NODES) == sorted(NAMES)
    for name in NAMES:
        ours, theirs = info[name], reference[name]
        for field in FIELDS:
            assert ours[field] == theirs[field], (name, field)
        assert ours["input_order"] == theirs["input_order"], name
        assert ours.get("experimental", False) == theirs.get("experimental", False), name
        for section in ("required", "optional"):
            for key, spec in theirs["input"].get(section, {}).items():
                kind, options = _options(spec)
                our_kind, our_options = _options(ours["input"][section][key])
                assert our_kind == kind, (name, key)
                assert {k: our_options.get(k) for k in options} == options, (name, key)
                assert our_options.get("tooltip"), (name, key)
        assert ours["description"], name


def test_the_nodes_are_in_the_builtin_pack() -> None:
    assert all(node in BUILTIN_NODES for node in MERGING_NODES)
