"""Inputs that name files: a save node's ``filename_prefix``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodes.api.context import SchemaContext
from nodes.api.inputs import NO_SCHEMA, Problem, String
from nodes.api.paths import filename_prefix_problem
from nodes.api.text import shown


@dataclass(frozen=True)
class FilenamePrefix(String):
    """A save node's ``filename_prefix`` (a STRING widget): checked when the prompt is
    validated (``nodes.api.paths.filename_prefix_problem``), before any node runs."""

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        problem = filename_prefix_problem(value)
        if problem is None:
            return super().check(value, schema)
        return Problem(code="invalid_filename_prefix",
                       message="The filename_prefix cannot name a file in its folder",
                       details=f"{shown(value)}: {problem}")
