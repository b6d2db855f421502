"""Validation: each error code from a graph that triggers it, ComfyUI's shapes."""

from __future__ import annotations

from typing import Any

import pytest

from executor.errors import PromptError
from executor.validate import validate_prompt
from tests.executor.stub_nodes import Runs, make_registry

REGISTRY = make_registry(Runs())


def show(src: str) -> dict[str, Any]:
    return {"class_type": "Show", "inputs": {"value": [src, 0]}}


def errors_of(prompt: dict[str, Any], **kwargs: Any) -> tuple[PromptError, dict[str, Any]]:
    with pytest.raises(PromptError) as caught:
        validate_prompt(prompt, REGISTRY, **kwargs)
    return caught.value, caught.value.node_errors


def only_issue(node_errors: dict[str, Any], node_id: str) -> dict[str, Any]:
    assert list(node_errors) == [node_id], node_errors
    (issue,) = node_errors[node_id]["errors"]
    return issue


CASES = [
    ("required_input_missing", {"1": {"class_type": "Add", "inputs": {"b": 1}}}, "a"),
    ("bad_linked_input",
     {"1": {"class_type": "Add", "inputs": {"a": ["0", 0, 1], "b": 1}}}, "a"),
    ("bad_linked_input",
     {"1": {"class_type": "Add", "inputs": {"a": [5, 0], "b": 1}}}, "a"),
    ("return_type_mismatch",
     {"0": {"class_type": "WhoAmI", "inputs": {}},
      "1": {"class_type": "Add", "inputs": {"a": ["0", 0], "b": 1}}}, "a"),
    ("invalid_input_type",
     {"0": {"class_type": "Constant", "inputs": {}},
      "1": {"class_type": "Add", "inputs": {"a": ["0", 0], "b": 20.5}}}, "b"),
    ("invalid_input_type",
     {"1": {"class_type": "Add", "inputs": {"a": 3, "b": 1}}}, "a"),
    ("value_smaller_than_min",
     {"0": {"class_type": "Constant", "inputs": {}},
      "1": {"class_type": "Add", "inputs": {"a": ["0", 0], "b": -101}}}, "b"),
    ("value_bigger_than_max",
     {"0": {"class_type": "Constant", "inputs": {}},
      "1": {"class_type": "Add", "inputs": {"a": ["0", 0], "b": 2**64}}}, "b"),
    ("value_not_in_list", {"1": {"class_type": "Settings", "inputs": {"mode": "medium"}}},
     "mode"),
    ("custom_validation_failed", {"1": {"class_type": "Checked", "inputs": {"n": 3}}}, ""),
    ("linked_node_missing",
     {"1": {"class_type": "Add", "inputs": {"a": ["99", 0], "b": 1}}}, "a"),
    ("linked_slot_missing",
     {"0": {"class_type": "Constant", "inputs": {}},
      "1": {"class_type": "Add", "inputs": {"a": ["0", 3], "b": 1}}}, "a"),
]


@pytest.mark.parametrize(("code", "nodes", "input_name"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_code_is_produced(code: str, nodes: dict[str, Any], input_name: str) -> None:
    prompt = {**nodes, "9": show("1")}
    error, node_errors = errors_of(prompt)
    assert error.code == "prompt_outputs_failed_validation"
    issue = only_issue(node_errors, "1")
    assert issue["type"] == code
    assert issue["extra_info"].get("input_name") == input_name
    assert node_errors["1"]["dependent_outputs"] == ["9"]
    assert node_errors["1"]["class_type"] == nodes["1"]["class_type"]


def test_every_problem_is_collected() -> None:
    prompt = {"1": {"class_type": "Settings", "inputs": {"count": 11, "scale": "x",
                                                         "mode": "medium", "flag": "yes"}},
              "9": show("1")}
    _, node_errors = errors_of(prompt)
    codes = sorted(e["type"] for e in node_errors["1"]["errors"])
    assert codes == ["invalid_input_type", "invalid_input_type", "value_bigger_than_max",
                     "value_not_in_list"]


def test_unknown_node_type_fails_the_prompt_naming_the_node() -> None:
    error, node_errors = errors_of({"1": {"class_type": "Nope", "inputs": {}}, "9": show("1")})
    assert error.code == "invalid_prompt"
    assert "Nope" in error.message and error.extra_info == {"node_id": "1", "class_type": "Nope"}
    assert node_errors["1"]["errors"][0]["type"] == "unknown_node_type"


def test_missing_class_type() -> None:
    error, _ = errors_of({"1": {"inputs": {}}})
    assert error.code == "invalid_prompt" and "class_type" in error.message
    assert error.details == "Node ID '#1'"


def test_prompt_no_outputs() -> None:
    error, _ = errors_of({"1": {"class_type": "Constant", "inputs": {}}})
    assert error.code == "prompt_no_outputs"


def test_cycle_is_named() -> None:
    prompt = {"1": {"class_type": "Add", "inputs": {"a": ["3", 0]}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0]}},
              "3": {"class_type": "Add", "inputs": {"a": ["2", 0]}},
              "4": {"class_type": "Add", "inputs": {"a": ["3", 0]}},
              "9": show("4")}
    _, node_errors = errors_of(prompt)
    assert sorted(node_errors) == ["1", "2", "3"]  # 4 is only downstream of the cycle
    text = node_errors["1"]["errors"][0]["details"]
    assert node_errors["1"]["errors"][0]["type"] == "dependency_cycle"
    for part in ("1 (Add)", "2 (Add)", "3 (Add)"):
        assert part in text


def test_downstream_of_invalid_node_is_not_reported_twice() -> None:
    prompt = {"1": {"class_type": "Add", "inputs": {"b": 1}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
              "9": show("2")}
    _, node_errors = errors_of(prompt)
    assert list(node_errors) == ["1"]


def test_partial_validity_runs_valid_outputs_unless_strict() -> None:
    prompt = {"1": {"class_type": "Constant", "inputs": {}}, "2": show("1"),
              "3": {"class_type": "Add", "inputs": {"b": 1}}, "4": show("3")}
    vp = validate_prompt(prompt, REGISTRY)
    assert vp.outputs == ["2"] and vp.failed_outputs == ["4"]
    assert list(vp.node_errors) == ["3"] and "3" not in vp.nodes
    error, _ = errors_of(prompt, strict=True)
    assert error.code == "prompt_outputs_failed_validation"


def test_nodes_not_needed_are_not_validated() -> None:
    prompt = {"1": {"class_type": "Constant", "inputs": {}}, "2": show("1"),
              "3": {"class_type": "Add", "inputs": {"b": "bad"}}}
    vp = validate_prompt(prompt, REGISTRY)
    assert vp.node_errors == {} and sorted(vp.order) == ["1", "2"]


def test_any_node_may_be_a_target() -> None:
    prompt = {"1": {"class_type": "Constant", "inputs": {}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0]}}, "3": show("2"),
              "4": {"class_type": "Add", "inputs": {"b": "bad"}}}
    vp = validate_prompt(prompt, REGISTRY, targets=["2"])
    assert vp.outputs == ["2"] and vp.order == ["1", "2"]
    error, _ = errors_of(prompt, targets=["77"])
    assert error.code == "invalid_prompt" and error.extra_info == {"targets": ["77"]}


def test_value_wrapper_and_client_is_changed() -> None:
    prompt = {"1": {"class_type": "Settings",
                    "inputs": {"text": {"__value__": "wrapped"}, "count": 1},
                    "is_changed": ["ignored"]},
              "9": show("1")}
    vp = validate_prompt(prompt, REGISTRY)
    assert vp.nodes["1"].constants["text"] == "wrapped"


def test_wrapped_array_is_a_constant_not_a_link() -> None:
    prompt = {"1": {"class_type": "Settings", "inputs": {"text": {"__value__": ["a", 1]}}},
              "9": show("1")}
    _, node_errors = errors_of(prompt)
    assert only_issue(node_errors, "1")["type"] == "invalid_input_type"


def test_long_combo_lists_are_not_echoed() -> None:
    from nodes.api import Combo

    combo = Combo("x", choices=[str(i) for i in range(25)])
    problem = combo.check("nope")
    assert problem is not None and "(list of length 25)" in problem.details
