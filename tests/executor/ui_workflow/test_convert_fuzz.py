"""Malformed UI workflows never crash the converter: they convert or raise a named error."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor.ui_workflow import WorkflowConversionError, convert_ui_workflow
from tests.executor.ui_workflow.templates_registry import build_registry

REGISTRY = build_registry()
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.floats(allow_nan=True),
                    st.text(max_size=6), st.sampled_from(["KSampler", "Reroute", "EmptyLatentImage",
                                                          "PrimitiveNode", "SaveImage"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12)
NODE_TYPES = st.one_of(st.sampled_from(["KSampler", "EmptyLatentImage", "VAEDecode", "SaveImage",
                                        "Reroute", "PrimitiveNode", "Note", "Nope"]), JSON)
NODE = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(0, 6), JSON), "type": NODE_TYPES},
    optional={
        "mode": st.one_of(st.sampled_from([0, 2, 4]), JSON),
        "inputs": st.one_of(st.lists(st.fixed_dictionaries(
            {"name": st.one_of(st.sampled_from(["model", "seed", "samples", "images"]), JSON),
             "link": st.one_of(st.none(), st.integers(0, 6), JSON)}), max_size=3), JSON),
        "outputs": st.one_of(st.lists(st.fixed_dictionaries(
            {"links": st.one_of(st.lists(st.integers(0, 6), max_size=3), JSON)}), max_size=2),
            JSON),
        "widgets_values": JSON,
    },
)
LINK = st.one_of(st.lists(st.one_of(st.integers(0, 6), JSON), min_size=0, max_size=7), JSON)
WORKFLOW = st.fixed_dictionaries(
    {"nodes": st.lists(NODE, max_size=5)},
    optional={"links": st.one_of(st.lists(LINK, max_size=5), JSON),
              "definitions": st.one_of(st.fixed_dictionaries(
                  {"subgraphs": st.lists(JSON, max_size=2)}), JSON)},
)


@settings(max_examples=400, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(WORKFLOW)
def test_malformed_workflows_raise_only_conversion_errors(workflow: dict[str, Any]) -> None:
    try:
        prompt = convert_ui_workflow(workflow, REGISTRY)
    except WorkflowConversionError as exc:
        assert str(exc)
    else:
        assert isinstance(prompt, dict)
        assert all(isinstance(v.get("class_type"), str) for v in prompt.values())
