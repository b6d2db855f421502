"""The regex work of the Regex* nodes, as plain functions of strings (``re``, ComfyUI's
semantics). Module-level and free of node imports: the guard may run them in a worker process.
"""

from __future__ import annotations

import re

EXTRACT_MODES = ("First Match", "All Matches", "First Group", "All Groups")
JOIN = "\n"


def regex_flags(case_insensitive: bool, multiline: bool, dotall: bool) -> int:
    flags = 0
    if case_insensitive:
        flags |= re.IGNORECASE
    if multiline:
        flags |= re.MULTILINE
    if dotall:
        flags |= re.DOTALL
    return flags


def regex_matches(pattern: str, string: str, flags: int) -> bool:
    """Whether the pattern occurs anywhere; an invalid pattern matches nothing (ComfyUI)."""
    try:
        return re.search(pattern, string, flags) is not None
    except re.error:
        return False


def _groups(pattern: str, string: str, flags: int, group_index: int) -> str:
    found = []
    for match in re.finditer(pattern, string, flags):
        if match.groups() and len(match.groups()) >= group_index:
            found.append(match.group(group_index) or "")  # an unmatched group: empty
    return JOIN.join(found)


def _extract(pattern: str, string: str, flags: int, mode: str, group_index: int) -> str:
    if mode == "First Match":
        match = re.search(pattern, string, flags)
        return match.group(0) if match else ""
    if mode == "All Matches":
        matches = re.findall(pattern, string, flags)
        if matches and isinstance(matches[0], tuple):  # several groups: the first of each
            return JOIN.join(m[0] for m in matches)
        return JOIN.join(matches)  # no group: whole matches; one group: that group
    if mode == "First Group":
        match = re.search(pattern, string, flags)
        if match and len(match.groups()) >= group_index:
            return match.group(group_index) or ""
        return ""
    return _groups(pattern, string, flags, group_index)


def regex_extract(pattern: str, string: str, flags: int, mode: str, group_index: int) -> str:
    """ComfyUI's RegexExtract; results of "All …" modes joined by newlines; an invalid
    pattern extracts nothing."""
    try:
        return _extract(pattern, string, flags, mode, group_index)
    except re.error:
        return ""


def regex_replace(pattern: str, replace: str, string: str, flags: int, count: int) -> str:
    """``re.sub`` (count 0: every match); an invalid pattern raises ``re.error``."""
    return re.sub(pattern, replace, string, count=count, flags=flags)
