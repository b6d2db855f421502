"""String nodes with ComfyUI's semantics (Python's own string operations)."""

from __future__ import annotations

from typing import Any

from nodes.api import BOOLEAN, INT, STRING, Boolean, Combo, Int, Node, Output, RunContext
from nodes.api import String as StringInput

CATEGORY = "utils/string"
CASE_MODES = ("UPPERCASE", "lowercase", "Capitalize", "Title Case")
TRIM_MODES = ("Both", "Left", "Right")
COMPARE_MODES = ("Starts With", "Ends With", "Equal")


def text(name: str, tooltip: str) -> StringInput:
    return StringInput(name, multiline=True, tooltip=tooltip)


def _choice(node: str, name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{node} input {name!r}: {value!r} is not one of {list(choices)}")
    return value


class StringConcatenate(Node):
    """Joins two texts with a delimiter between them."""

    display_name = "Concatenate"
    category = CATEGORY
    inputs = (text("string_a", "The first text."), text("string_b", "The second text."),
              StringInput("delimiter", default="", multiline=False,
                          tooltip="Put between the two."))
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, string_a: str, string_b: str,
            delimiter: str) -> tuple[Any, ...]:
        return (delimiter.join((string_a, string_b)),)


class StringSubstring(Node):
    """The characters from start up to (not including) end; negative positions count from
    the end, as Python slices."""

    display_name = "Substring"
    category = CATEGORY
    inputs = (text("string", "The text."), Int("start", tooltip="The first position."),
              Int("end", tooltip="The position after the last."))
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, string: str, start: int, end: int) -> tuple[Any, ...]:
        return (string[start:end],)


class StringLength(Node):
    """The number of characters (Unicode code points)."""

    display_name = "Length"
    category = CATEGORY
    inputs = (text("string", "The text."),)
    outputs = (Output(INT, "length"),)

    def run(self, ctx: RunContext, string: str) -> tuple[Any, ...]:
        return (len(string),)


class CaseConverter(Node):
    """Changes the letter case: all upper, all lower, first letter upper (the rest lower), or
    each word capitalised."""

    display_name = "Case Converter"
    category = CATEGORY
    inputs = (text("string", "The text."),
              Combo("mode", choices=CASE_MODES, tooltip="The case to convert to."))
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, string: str, mode: str) -> tuple[Any, ...]:
        mode = _choice(self.type_name, "mode", mode, CASE_MODES)
        convert = {"UPPERCASE": str.upper, "lowercase": str.lower,
                   "Capitalize": str.capitalize, "Title Case": str.title}[mode]
        return (convert(string),)


class StringTrim(Node):
    """Removes whitespace from both ends, the left or the right."""

    display_name = "Trim"
    category = CATEGORY
    inputs = (text("string", "The text."),
              Combo("mode", choices=TRIM_MODES, tooltip="Which ends to trim."))
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, string: str, mode: str) -> tuple[Any, ...]:
        mode = _choice(self.type_name, "mode", mode, TRIM_MODES)
        trim = {"Both": str.strip, "Left": str.lstrip, "Right": str.rstrip}[mode]
        return (trim(string),)


class StringReplace(Node):
    """Replaces every occurrence of a text (no patterns)."""

    display_name = "Replace"
    category = CATEGORY
    inputs = (text("string", "The text."), text("find", "The text to find."),
              text("replace", "What replaces it."))
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, string: str, find: str, replace: str) -> tuple[Any, ...]:
        return (string.replace(find, replace),)


class StringContains(Node):
    """Whether the text contains a substring."""

    display_name = "Contains"
    category = CATEGORY
    inputs = (text("string", "The text."), text("substring", "The text to look for."),
              Boolean("case_sensitive", default=True, tooltip="Whether case must match."))
    outputs = (Output(BOOLEAN, "contains"),)

    def run(self, ctx: RunContext, string: str, substring: str,
            case_sensitive: bool) -> tuple[Any, ...]:
        if not case_sensitive:
            string, substring = string.lower(), substring.lower()
        return (substring in string,)


class StringCompare(Node):
    """Whether string_a starts with, ends with or equals string_b."""

    display_name = "Compare"
    category = CATEGORY
    inputs = (text("string_a", "The text tested."), text("string_b", "The text compared."),
              Combo("mode", choices=COMPARE_MODES, tooltip="The comparison."),
              Boolean("case_sensitive", default=True, tooltip="Whether case must match."))
    outputs = (Output(BOOLEAN),)

    def run(self, ctx: RunContext, string_a: str, string_b: str, mode: str,
            case_sensitive: bool) -> tuple[Any, ...]:
        mode = _choice(self.type_name, "mode", mode, COMPARE_MODES)
        if not case_sensitive:
            string_a, string_b = string_a.lower(), string_b.lower()
        if mode == "Equal":
            return (string_a == string_b,)
        if mode == "Starts With":
            return (string_a.startswith(string_b),)
        return (string_a.endswith(string_b),)


STRING_NODES = [StringConcatenate, StringSubstring, StringLength, CaseConverter, StringTrim,
                StringReplace, StringContains, StringCompare]
