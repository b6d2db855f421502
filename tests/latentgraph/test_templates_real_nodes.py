"""Real ComfyUI templates against our real node pack: convert, then validate.

Every template of the pinned ``comfyui-workflow-templates-json`` whose node types all exist
in the built-in pack is converted with the real registry's widget order and validated by the
real engine. Model and image files do not exist here, so the only problems allowed are file
pickers naming files we lack (``value_not_in_list`` on a picker, or LoadImage's missing file);
any other problem means a declaration differs from ComfyUI's.
"""

from __future__ import annotations

from typing import Any

import pytest

from executor.errors import PromptError
from executor.ui_workflow import WorkflowConversionError, convert_ui_workflow
from latentgraph.app import build_engine, build_registry, folders_under
from nodes.api import Ports, Registry
from tests.executor.ui_workflow.test_templates import missing_types, templates

# Templates that name something we do not implement yet, and what.
NOT_SUPPORTED = {"image_anima_preview.json": "'er_sde'"}  # a sampler we lack
FILE_PICKERS = {"ckpt_name", "vae_name", "clip_name", "clip_name1", "clip_name2", "unet_name",
                "image"}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, Any]:
    folders = folders_under(tmp_path_factory.mktemp("base"))
    registry = build_registry(folders)
    return registry, build_engine(registry, folders, ports=Ports())


def _runnable(registry: Registry) -> dict[str, dict[str, Any]]:
    names = set(registry.names())
    return {name: wf for name, wf in templates().items()
            if "nodes" in wf and not (missing_types(wf) - names)}


def _unexpected(error: PromptError) -> list[str]:
    bad = []
    for node_id, entry in error.node_errors.items():
        for issue in entry["errors"]:
            info = issue.get("extra_info", {})
            picker = issue["type"] == "value_not_in_list" and info.get("input_name") in FILE_PICKERS
            missing_image = (issue["type"] == "custom_validation_failed"
                             and "Invalid image file" in issue["details"])
            if not (picker or missing_image):
                bad.append(f"{node_id} {entry['class_type']}: {issue['type']} {issue['details']}")
    return bad


def test_templates_with_our_node_types_convert_and_validate(real: tuple[Registry, Any]) -> None:
    registry, engine = real
    runnable = _runnable(registry)
    assert len(runnable) >= 5, sorted(runnable)
    problems: dict[str, list[str]] = {}
    validated = 0
    for name, workflow in sorted(runnable.items()):
        try:
            prompt = convert_ui_workflow(workflow, registry)
        except WorkflowConversionError as exc:  # a type only nested definitions use
            assert "does not exist" in str(exc), (name, str(exc))
            continue
        validated += 1
        try:
            engine.validate(prompt)
        except PromptError as exc:
            bad = _unexpected(exc)
            if bad and name not in NOT_SUPPORTED:
                problems[name] = bad
            elif bad:
                assert NOT_SUPPORTED[name] in " ".join(bad)
    assert problems == {}
    assert validated >= 5
