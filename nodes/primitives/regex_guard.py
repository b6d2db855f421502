"""Running user regular expressions without hanging a job.

Python's ``re`` cannot be interrupted or given a deadline (the ``regex`` package's timeout is
not available here), and a pattern can backtrack for longer than the universe exists. So:

- sizes are capped: patterns at ``MAX_PATTERN_CHARS``, texts at ``MAX_TEXT_CHARS``;
- a pattern that can backtrack exponentially (a repeated group containing a quantifier or an
  alternation, like ``(a+)+`` or ``(a|ab)*``, or any backreference), one with more than
  ``MAX_IN_PROCESS_QUANTIFIERS`` unbounded quantifiers (polynomial blow-up, ``.*.*.*x``), and
  any text longer than ``IN_PROCESS_TEXT_CHARS`` run in a separate worker process that is
  killed after ``TIMEOUT_S`` seconds, with an error naming the node and the pattern;
- everything else runs in-process: at most two unbounded quantifiers on at most 10 000
  characters is at worst ~10^8 steps.

The worker is started per call (spawn: no state of this process is copied), which costs a
fraction of a second; only the patterns and texts above pay it.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

MAX_PATTERN_CHARS = 10_000
MAX_TEXT_CHARS = 1_000_000
IN_PROCESS_TEXT_CHARS = 10_000
MAX_IN_PROCESS_QUANTIFIERS = 2
TIMEOUT_S = 10.0

_BRACE = re.compile(r"\{(\d*)(,?)(\d*)\}")
T = TypeVar("T")


class RegexGuardError(ValueError):
    """A pattern or text refused, or a match that ran out of time."""


@dataclass(frozen=True)
class PatternShape:
    """What makes a pattern slow: ``nested`` (a repeated group holding a quantifier or an
    alternation), ``unbounded`` (how many ``*``, ``+``, ``{n,}``), ``backreference``."""

    nested: bool
    unbounded: int
    backreference: bool


@dataclass(frozen=True)
class _Quantifier:
    length: int  # characters, with a lazy or possessive suffix
    repeats: bool  # can match more than once
    unbounded: bool


def _quantifier_at(pattern: str, i: int) -> _Quantifier | None:
    char = pattern[i:i + 1]
    if char in ("*", "+", "?"):
        q = _Quantifier(1, char != "?", char != "?")
    elif char == "{" and (m := _BRACE.match(pattern, i)) and (m[1] or m[3]):
        upper = m[3] if m[2] else m[1]
        q = _Quantifier(m.end() - i, not upper or int(upper) > 1, bool(m[2]) and not m[3])
    else:
        return None
    suffix = pattern[i + q.length:i + q.length + 1]
    return _Quantifier(q.length + 1, q.repeats, q.unbounded) if suffix in ("?", "+") else q


def _class_end(pattern: str, i: int) -> int:
    """The index after the character class starting at ``i`` (``[``)."""
    j = i + 1
    if pattern.startswith("^", j):
        j += 1
    if pattern.startswith("]", j):
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def pattern_shape(pattern: str) -> PatternShape:
    """A lexical scan of a pattern (escapes and character classes skipped)."""
    busy = [False]  # per open group: holds a quantifier or an alternation
    nested, unbounded, backreference = False, 0, False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            backreference |= pattern[i + 1:i + 2] in tuple("123456789")
            i += 2
        elif char == "[":
            i = _class_end(pattern, i)
        elif char == "(":
            backreference |= pattern.startswith("(?P=", i)
            busy.append(False)
            i += 2 if pattern.startswith("?", i + 1) else 1
        elif char == ")":
            inner = busy.pop() if len(busy) > 1 else False
            after = _quantifier_at(pattern, i + 1)
            nested |= inner and after is not None and after.repeats
            busy[-1] |= inner
            i += 1
        elif char == "|":
            busy[-1] = True
            i += 1
        elif (q := _quantifier_at(pattern, i)) is not None:
            busy[-1] = True
            unbounded += q.unbounded
            i += q.length
        else:
            i += 1
    return PatternShape(nested, unbounded, backreference)


def runs_in_process(pattern: str, text: str) -> bool:
    """Whether a match of ``pattern`` on ``text`` is cheap enough to run here."""
    shape = pattern_shape(pattern)
    return (len(text) <= IN_PROCESS_TEXT_CHARS and not shape.nested
            and not shape.backreference and shape.unbounded <= MAX_IN_PROCESS_QUANTIFIERS)


def check_sizes(node: str, pattern: str, texts: dict[str, str]) -> None:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexGuardError(f"{node} input 'regex_pattern': {len(pattern)} characters; "
                              f"at most {MAX_PATTERN_CHARS} are accepted")
    for name, text in texts.items():
        if len(text) > MAX_TEXT_CHARS:
            raise RegexGuardError(f"{node} input {name!r}: {len(text)} characters; at most "
                                  f"{MAX_TEXT_CHARS} are searched")


def run_guarded(node: str, fn: Callable[..., T], args: tuple[Any, ...], *, pattern: str,
                texts: dict[str, str], timeout: float = TIMEOUT_S) -> T:
    """``fn(*args)``, here or in a worker process killed after ``timeout`` seconds."""
    check_sizes(node, pattern, texts)
    if all(runs_in_process(pattern, text) for text in texts.values()):
        return fn(*args)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pending = pool.apply_async(fn, args)
        try:
            return pending.get(timeout)
        except multiprocessing.TimeoutError:
            raise RegexGuardError(
                f"{node} input 'regex_pattern' {pattern[:80]!r}: matching took longer than "
                f"{timeout:g} s (catastrophic backtracking?); simplify the pattern") from None
