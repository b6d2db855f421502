"""Regex nodes with ComfyUI's flags and modes, and the guard: caps, which patterns run in a
worker process, and a catastrophic pattern ending in an error instead of a hang."""

from __future__ import annotations

import time
from typing import Any

import pytest

from nodes.primitives.regex_guard import (
    MAX_TEXT_CHARS,
    RegexGuardError,
    pattern_shape,
    run_guarded,
    runs_in_process,
)
from nodes.primitives.regex_nodes import RegexExtract, RegexMatch, RegexReplace
from nodes.primitives.regex_ops import regex_flags, regex_matches
from tests.nodes.images.helpers import FakeContext


def one(node: type, *args: Any, **kwargs: Any) -> Any:
    (out,) = node().run(FakeContext(), *args, **kwargs)
    return out


def test_match_flags_and_invalid_patterns() -> None:
    assert one(RegexMatch, "Hello", "^hello$", True, False, False)
    assert not one(RegexMatch, "Hello", "^hello$", False, False, False)
    assert one(RegexMatch, "a\nb", "^b$", False, True, False)
    assert one(RegexMatch, "a\nb", "a.b", False, False, True)
    assert not one(RegexMatch, "a", "(", True, False, False)  # invalid: no match


@pytest.mark.parametrize("mode, group, expected", [
    ("First Match", 1, "a1"),
    ("All Matches", 1, "a1\nb2"),  # no group: whole matches
    ("First Group", 1, "a"),
    ("First Group", 0, "a1"),
    ("First Group", 3, ""),  # fewer groups
    ("All Groups", 2, "1\n2"),
])
def test_extract_modes(mode: str, group: int, expected: str) -> None:
    pattern = r"([a-z])(\d)" if mode != "All Matches" else r"[a-z]\d"
    assert one(RegexExtract, "a1 B b2", pattern, mode, False, False, False, group) == expected


def test_extract_all_matches_with_groups_takes_each_first_group() -> None:
    assert one(RegexExtract, "a1 b2", r"([a-z])(\d)", "All Matches", True, False, False,
               1) == "a\nb"
    assert one(RegexExtract, "a1 b2", r"[a-z](\d)", "All Matches", True, False, False,
               1) == "1\n2"  # one group: that group
    assert one(RegexExtract, "x", "(", "First Match", True, False, False, 1) == ""


def test_replace_with_groups_count_and_optional_flags() -> None:
    assert one(RegexReplace, "a1 a2 A3", r"a(\d)", r"<\1>") == "<1> <2> <3>"  # ignore-case
    assert one(RegexReplace, "a1 a2 A3", r"a(\d)", "x", case_insensitive=False,
               count=1) == "x a2 A3"
    with pytest.raises(ValueError, match=r"RegexReplace: invalid pattern"):
        one(RegexReplace, "a", "(", "x")


def test_pattern_shapes() -> None:
    assert pattern_shape(r"(a+)+$").nested and pattern_shape(r"(a|ab)*c").nested
    assert pattern_shape(r"(\d{1,3}){5}").nested
    assert not pattern_shape(r"(ab)+|c*").nested and pattern_shape(r"(ab)+|c*").unbounded == 2
    assert not pattern_shape(r"[(a+)+]x").nested  # inside a class: literal characters
    assert not pattern_shape(r"\(a+\)+").nested and pattern_shape(r"\(a+\)+").unbounded == 2
    assert pattern_shape(r"(a)\1").backreference and pattern_shape(r"(?P<x>a)(?P=x)").backreference
    assert pattern_shape(r"a{2,}b*?c{3}").unbounded == 2
    assert runs_in_process(r"\w+\s", "a b") and not runs_in_process(r".*.*.*x", "a")
    assert not runs_in_process(r"\w", "a" * 20_000)


def test_caps_are_named() -> None:
    with pytest.raises(RegexGuardError, match="RegexMatch input 'string': .* at most"):
        one(RegexMatch, "a" * (MAX_TEXT_CHARS + 1), "a", True, False, False)
    with pytest.raises(RegexGuardError, match="input 'regex_pattern': 10001 characters"):
        one(RegexMatch, "a", "a" * 10_001, True, False, False)


def test_risky_patterns_run_in_a_worker_and_time_out() -> None:
    flags = regex_flags(False, False, False)
    # risky shape, quick match: the worker's answer
    assert run_guarded("RegexMatch", regex_matches, (r"(\d+,)+$", "1,22,", flags),
                       pattern=r"(\d+,)+$", texts={"string": "1,22,"}, timeout=60.0)
    text = "a" * 40 + "!"
    start = time.monotonic()
    with pytest.raises(RegexGuardError, match=r"RegexMatch input 'regex_pattern' .* longer "
                                              r"than 1 s"):
        run_guarded("RegexMatch", regex_matches, (r"(a+)+$", text, flags), pattern=r"(a+)+$",
                    texts={"string": text}, timeout=1.0)
    assert time.monotonic() - start < 30  # killed, not waited for
