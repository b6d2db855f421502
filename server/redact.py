"""Absolute server paths out of what clients see: error bodies, execution errors, tracebacks.

A path under a known folder is shown relative to it (``output/sub/x.png``,
``models/checkpoints/a.safetensors``, ``nodes/images/io.py`` for the server's own code,
``python/torch/nn/modules/module.py`` for the interpreter's); any other absolute path keeps its
last component only (``…/secret.yaml``). The log keeps the full text.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from server.settings import ServerSettings

CODE_ROOT = Path(__file__).resolve().parents[1]
_ABSOLUTE = re.compile(r"(?<![\w:/.\-~])(?:/|[A-Za-z]:\\)[^\s'\"<>|,;()\[\]{}]*")


def _labelled_roots(settings: ServerSettings) -> dict[str, str]:
    roots: dict[str, str] = {
        str(settings.input_dir): "input", str(settings.output_dir): "output",
        str(settings.temp_dir): "temp", str(settings.user_dir): "user",
        str(settings.models_dir): "models", str(settings.base_dir): "",
        str(CODE_ROOT): "",
    }
    for folder, paths in settings.model_roots.items():
        for path in paths:
            roots.setdefault(str(path), f"models/{folder}")
    for key in ("purelib", "platlib", "stdlib"):
        roots.setdefault(sysconfig.get_paths()[key], "python")
    roots.setdefault(sys.prefix, "python")
    return roots


class PathRedactor:
    """Rewrites absolute paths in text (and in JSON-like values) for clients."""

    def __init__(self, roots: Mapping[str, str]) -> None:
        ordered = sorted(((r.rstrip("/\\"), label) for r, label in roots.items() if r),
                         key=lambda item: -len(item[0]))
        self._roots = [(root, label) for root, label in ordered if len(root) > 1]

    @classmethod
    def for_settings(cls, settings: ServerSettings) -> PathRedactor:
        return cls(_labelled_roots(settings))

    def _one(self, match: re.Match[str]) -> str:
        path = match.group(0)
        for root, label in self._roots:
            if path == root or path.startswith((root + "/", root + "\\")):
                rest = path[len(root):].lstrip("/\\")
                return "/".join(p for p in (label, rest) if p) or "."
        name = re.split(r"[/\\]", path.rstrip("/\\"))[-1]
        return f"…/{name}" if name else "…"

    def text(self, text: str) -> str:
        return _ABSOLUTE.sub(self._one, text) if ("/" in text or "\\" in text) else text

    def lines(self, lines: Iterable[str]) -> list[str]:
        return [self.text(line) for line in lines]

    def value(self, value: Any) -> Any:
        """Every string inside a JSON-like value, rewritten (a new value)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value


NO_REDACTION = PathRedactor({})
