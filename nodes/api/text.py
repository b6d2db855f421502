"""Checks of text from clients before it reaches a node, a file name or the job database.

- A lone surrogate (``"\\ud800"``, which JSON can express) is not Unicode text: it cannot be
  encoded as UTF-8, so SQLite, the file system and every encoder would refuse it later.
  :func:`lone_surrogate` finds one.
- Text inputs have a length limit (``String(max_length=…)``); the default,
  :data:`DEFAULT_MAX_LENGTH`, is 64 Ki characters: more than twice the longest text in ComfyUI's
  official workflow templates (27,848 characters, an LLM system prompt).

Pure standard library: ``nodes.api`` stays free of torch.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_MAX_LENGTH = 65_536
_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text``, or ``None`` (valid Unicode)."""
    if text.isascii():
        return None
    match = _SURROGATE.search(text)
    return match.start() if match else None


def shown(value: Any, limit: int = 100) -> str:
    """``repr(value)`` cut to about ``limit`` characters (error messages echo client values)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<an integer of {value.bit_length()} bits>"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
