"""RegexMatch, RegexExtract, RegexReplace: Python ``re`` with ComfyUI's inputs and modes, run
through ``nodes.primitives.regex_guard`` (size caps; risky patterns in a worker with a
deadline)."""

from __future__ import annotations

import re
from typing import Any

from nodes.api import BOOLEAN, STRING, Boolean, Combo, Int, Node, Output, RunContext
from nodes.primitives.regex_guard import run_guarded
from nodes.primitives.regex_ops import (
    EXTRACT_MODES,
    regex_extract,
    regex_flags,
    regex_matches,
    regex_replace,
)
from nodes.primitives.strings import CATEGORY, text


def _flag_inputs(optional: bool = False) -> tuple[Boolean, ...]:
    return (
        Boolean("case_insensitive", default=True, optional=optional,
                tooltip="Letters match regardless of case."),
        Boolean("multiline", default=False, optional=optional,
                tooltip="^ and $ match at every line, not only at the text's ends."),
        Boolean("dotall", default=False, optional=optional,
                tooltip="'.' matches newlines too."),
    )


def _pattern() -> Any:
    return text("regex_pattern", "A Python regular expression.")


class RegexMatch(Node):
    """Whether the pattern occurs anywhere in the text (an invalid pattern: false)."""

    display_name = "Regex Match"
    category = CATEGORY
    inputs = (text("string", "The text searched."), _pattern(), *_flag_inputs())
    outputs = (Output(BOOLEAN, "matches"),)

    def run(self, ctx: RunContext, string: str, regex_pattern: str, case_insensitive: bool,
            multiline: bool, dotall: bool) -> tuple[Any, ...]:
        flags = regex_flags(case_insensitive, multiline, dotall)
        return (run_guarded(self.type_name, regex_matches, (regex_pattern, string, flags),
                            pattern=regex_pattern, texts={"string": string}),)


class RegexExtract(Node):
    """Extracts the first match, every match, the first match's group, or that group of every
    match ("All …" results one per line; an invalid pattern: empty)."""

    display_name = "Regex Extract"
    category = CATEGORY
    inputs = (
        text("string", "The text searched."), _pattern(),
        Combo("mode", choices=EXTRACT_MODES, tooltip="What to extract."),
        *_flag_inputs(),
        Int("group_index", default=1, min=0, max=100,
            tooltip="The group of the 'Group' modes (0: the whole match)."),
    )
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, string: str, regex_pattern: str, mode: str,
            case_insensitive: bool, multiline: bool, dotall: bool,
            group_index: int) -> tuple[Any, ...]:
        if mode not in EXTRACT_MODES:
            raise ValueError(f"RegexExtract input 'mode': {mode!r} is not one of "
                             f"{list(EXTRACT_MODES)}")
        flags = regex_flags(case_insensitive, multiline, dotall)
        args = (regex_pattern, string, flags, mode, group_index)
        return (run_guarded(self.type_name, regex_extract, args, pattern=regex_pattern,
                            texts={"string": string}),)


class RegexReplace(Node):
    """Replaces matches of the pattern (\\1 or \\g<name> in the replacement insert groups);
    count 0 replaces every match."""

    display_name = "Regex Replace"
    category = CATEGORY
    inputs = (
        text("string", "The text."), _pattern(),
        text("replace", "The replacement; \\1, \\g<name> insert groups."),
        *_flag_inputs(optional=True),
        Int("count", default=0, min=0, max=100, optional=True,
            tooltip="The most replacements; 0 replaces every match."),
    )
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, string: str, regex_pattern: str, replace: str,
            case_insensitive: bool = True, multiline: bool = False, dotall: bool = False,
            count: int = 0) -> tuple[Any, ...]:
        flags = regex_flags(case_insensitive, multiline, dotall)
        try:
            return (run_guarded(self.type_name, regex_replace,
                                (regex_pattern, replace, string, flags, count),
                                pattern=regex_pattern, texts={"string": string}),)
        except re.error as exc:
            raise ValueError(f"RegexReplace: invalid pattern or replacement "
                             f"({regex_pattern!r} → {replace!r}): {exc}") from None


REGEX_NODES = [RegexMatch, RegexExtract, RegexReplace]
