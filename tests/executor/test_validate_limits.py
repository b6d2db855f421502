"""Validation turns values that would crash later into issues: huge numbers, long or broken
text, and echoes them cut short."""

from __future__ import annotations

from typing import Any

import pytest

from executor.errors import PromptError
from executor.validate import validate_prompt
from nodes.api.text import DEFAULT_MAX_LENGTH
from tests.executor.stub_nodes import Runs, make_registry

REGISTRY = make_registry(Runs())


def issue_of(prompt: dict[str, Any], node_id: str = "1") -> dict[str, Any]:
    with pytest.raises(PromptError) as caught:
        validate_prompt(prompt, REGISTRY)
    (issue,) = caught.value.node_errors[node_id]["errors"]
    return issue


def constant(value: Any) -> dict[str, Any]:
    return {"1": {"class_type": "Constant", "inputs": {"value": value}},
            "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}


def test_a_400_digit_integer_for_a_float_is_an_issue() -> None:
    issue = issue_of(constant(int("9" * 400)))
    assert issue["type"] == "invalid_input_type"
    assert "too large for a float" in issue["extra_info"]["exception_message"]
    assert "bits" in issue["extra_info"]["received_value"]  # echoed cut short
    assert len(issue["details"]) < 400


def test_a_huge_integer_beyond_an_int_range_is_an_issue() -> None:
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 1}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": int("9" * 400)}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    assert issue_of(prompt, "2")["type"] == "value_bigger_than_max"


def long_text(text: str) -> dict[str, Any]:
    return {"1": {"class_type": "Settings", "inputs": {"text": text}},
            "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}


def test_text_longer_than_the_limit_is_refused_and_echoed_short() -> None:
    issue = issue_of(long_text("x" * (10 * 2**20)))
    assert issue["type"] == "value_longer_than_max_length"
    assert issue["extra_info"]["input_name"] == "text"
    assert len(issue["extra_info"]["received_value"]) < 300
    validate_prompt(long_text("x" * DEFAULT_MAX_LENGTH), REGISTRY)  # the limit itself is fine


def test_text_with_a_lone_surrogate_is_an_issue() -> None:
    issue = issue_of(long_text("bad \ud800 text"))
    assert issue["type"] == "invalid_input_type"
    assert "lone surrogate" in issue["extra_info"]["exception_message"]
