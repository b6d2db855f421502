"""Input declarations refuse what would crash later: huge numbers, bad text, bad file prefixes."""

from __future__ import annotations

import pytest

from nodes.api import CoercionError, FilenamePrefix, Float, Int, String
from nodes.api.paths import PathRefusedError, check_relative, filename_prefix_problem
from nodes.api.text import DEFAULT_MAX_LENGTH, lone_surrogate

HUGE = int("9" * 400)


def test_a_400_digit_integer_is_no_float() -> None:
    with pytest.raises(CoercionError, match="too large for a float"):
        Float("x").coerce(HUGE)
    with pytest.raises(CoercionError, match="finite"):
        Float("x").coerce("9" * 400 + ".0")  # the string form overflows to inf
    assert Float("x").coerce(2**1000) == float(2**1000)  # large but finite is fine


def test_an_int_without_bounds_is_held_to_64_bits() -> None:
    unbounded = Int("x")
    assert unbounded.check(2**64 - 1) is None and unbounded.check(-(2**63)) is None
    too_big = unbounded.check(HUGE)
    assert too_big is not None and too_big.code == "value_bigger_than_max"
    too_small = unbounded.check(-(2**63) - 1)
    assert too_small is not None and too_small.code == "value_smaller_than_min"
    with pytest.raises(CoercionError) as caught:
        Int("x").coerce("x" * 10_000)
    assert len(str(caught.value)) < 300  # the value is cut short in the message


def test_text_with_a_lone_surrogate_is_refused() -> None:
    assert lone_surrogate("ok é 😀") is None and lone_surrogate("ab\ud800") == 2
    with pytest.raises(CoercionError, match="lone surrogate at index 1"):
        String("text").coerce("a\udfffb")
    assert String("text").coerce("😀") == "😀"


def test_text_length_limit_default_and_declared() -> None:
    text = String("text", multiline=True)
    assert text.check("x" * DEFAULT_MAX_LENGTH) is None
    problem = text.check("x" * (DEFAULT_MAX_LENGTH + 1))
    assert problem is not None and problem.code == "value_longer_than_max_length"
    assert str(DEFAULT_MAX_LENGTH) in problem.message
    short = String("name", max_length=8)
    assert short.check("12345678") is None
    assert short.check("123456789") is not None
    assert short.options()["max_length"] == 8 and "max_length" not in text.options()


@pytest.mark.parametrize("prefix", ["ComfyUI", "sub/dir/img_%width%x%height%", "a b (1)",
                                    "%year%-%month%/x", "é😀"])
def test_good_filename_prefixes(prefix: str) -> None:
    assert filename_prefix_problem(prefix) is None
    assert FilenamePrefix("filename_prefix").check(prefix) is None


@pytest.mark.parametrize(("prefix", "reason"), [
    ("../up", "'..'"), ("/abs", "absolute"), ("a\\b", "Windows"), ("C:x", "drive"),
    ("", "empty"), ("dir/", "names no file"), ("a\x00b", "control"), ("a\nb", "control"),
    ("\ud800", "surrogate"), ("x" * 241, "240 bytes"), ("d" * 256 + "/x", "255 bytes"),
    ("x" * 2000, "at most 1024"),
])
def test_bad_filename_prefixes_name_the_reason(prefix: str, reason: str) -> None:
    problem = filename_prefix_problem(prefix)
    assert problem is not None and reason in problem
    issue = FilenamePrefix("filename_prefix").check(prefix)
    assert issue is not None and issue.code == "invalid_filename_prefix"


def test_path_refusals_name_the_problem_briefly() -> None:
    with pytest.raises(PathRefusedError) as caught:
        check_relative("x\ud800")
    assert "lone surrogate" in str(caught.value)
    with pytest.raises(PathRefusedError) as long_name:
        check_relative("/" + "y" * 5000)
    assert len(str(long_name.value)) < 400
