"""Primitive, string and PreviewAny nodes: Python's string semantics as ComfyUI uses them, the
preview text rules, and a text workflow through the engine."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch

from executor.engine import Engine
from nodes.primitives.preview_any import UNSERIALIZABLE, PreviewAny, preview_text
from nodes.primitives.strings import (
    CaseConverter,
    StringCompare,
    StringConcatenate,
    StringContains,
    StringLength,
    StringReplace,
    StringSubstring,
    StringTrim,
)
from nodes.primitives.values import (
    PrimitiveBoolean,
    PrimitiveFloat,
    PrimitiveInt,
    PrimitiveString,
    PrimitiveStringMultiline,
)
from tests.nodes.images.helpers import FakeContext, execute, probe


def one(node: type, *args: Any) -> Any:
    (out,) = node().run(FakeContext(), *args)
    return out


def test_primitives_pass_their_value_on() -> None:
    assert one(PrimitiveInt, -sys.maxsize) == -sys.maxsize
    assert one(PrimitiveFloat, 2.5) == 2.5 and one(PrimitiveBoolean, False) is False
    assert one(PrimitiveString, "a") == "a" and one(PrimitiveStringMultiline, "a\nb") == "a\nb"


def test_string_nodes() -> None:
    assert one(StringConcatenate, "a", "b", ", ") == "a, b"
    assert one(StringSubstring, "abcdef", 1, -1) == "bcde"
    assert one(StringSubstring, "abc", 5, 9) == ""
    assert one(StringLength, "héllo") == 5
    cases = {"UPPERCASE": "HELLO WORLD", "lowercase": "hello world",
             "Capitalize": "Hello world", "Title Case": "Hello World"}
    assert {m: one(CaseConverter, "hELLO wORLD", m) for m in cases} == cases
    assert [one(StringTrim, " \ta \n", m) for m in ("Both", "Left", "Right")] == \
        ["a", "a \n", " \ta"]
    assert one(StringReplace, "a.b.c", ".", "-") == "a-b-c"
    assert one(StringContains, "Hello", "ell", True) and not one(StringContains, "Hello",
                                                                   "ELL", True)
    assert one(StringContains, "Hello", "ELL", False)
    assert one(StringCompare, "Hello", "he", "Starts With", False)
    assert not one(StringCompare, "Hello", "he", "Starts With", True)
    assert one(StringCompare, "Hello", "LO", "Ends With", False)
    assert one(StringCompare, "a", "a", "Equal", True)
    with pytest.raises(ValueError, match="CaseConverter input 'mode': 'upper'"):
        one(CaseConverter, "a", "upper")


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_preview_text_rules() -> None:
    assert preview_text("as is") == "as is"
    assert [preview_text(v) for v in (3, 2.5, True, None)] == ["3", "2.5", "True", "None"]
    assert preview_text({"a": [1, "é"]}) == '{"a": [1, "\\u00e9"]}'  # compact JSON, ASCII
    assert preview_text((1, 2)) == "[1, 2]"
    assert preview_text(torch.tensor([1.0])) == str(torch.tensor([1.0]))  # not JSON: str()
    assert preview_text(_Unprintable()) == UNSERIALIZABLE
    result = PreviewAny().run(FakeContext(), source=[1])
    assert result.values == () and result.ui == {"text": ["[1]"]}


def test_a_text_workflow(engine: Engine) -> None:
    prompt = {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": "hello"}},
        "2": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "big\nworld"}},
        "3": {"class_type": "StringConcatenate",
              "inputs": {"string_a": ["1", 0], "string_b": ["2", 0], "delimiter": " "}},
        "4": {"class_type": "CaseConverter", "inputs": {"string": ["3", 0],
                                                        "mode": "Title Case"}},
        "5": {"class_type": "RegexReplace", "inputs": {"string": ["4", 0],
                                                       "regex_pattern": r"\s+", "replace": "_"}},
        "6": {"class_type": "StringLength", "inputs": {"string": ["5", 0]}},
        "7": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
        "8": {"class_type": "PrimitiveInt", "inputs": {"value": 7}},
    }
    assert probe(engine, prompt, "6") == len("Hello_Big_World")
    outcome = execute(engine, prompt)
    assert outcome.outputs["7"] == {"text": ["Hello_Big_World"]}
    assert probe(engine, prompt, "8") == 7
