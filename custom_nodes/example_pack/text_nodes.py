"""Text nodes: a file picker over the input folder whose result depends on the file (a
fingerprint, so the node re-runs when the file changes), validation before the job runs, and an
output node showing text in the editor."""

from __future__ import annotations

import hashlib
from typing import Any

from nodes.api import (
    STRING,
    CachePolicy,
    Combo,
    FingerprintContext,
    Link,
    Node,
    NodeResult,
    Output,
    RunContext,
    SchemaChoices,
    SchemaContext,
)
from nodes.api.paths import PathRefusedError, resolve_inside


class TextFiles(SchemaChoices):
    """The .txt files of the input folder, read on every request."""

    def __call__(self, schema: SchemaContext) -> list[str]:
        if schema.folders is None or not schema.folders.input.is_dir():
            return []
        return sorted(p.name for p in schema.folders.input.glob("*.txt"))


def _path(ctx: SchemaContext, name: str) -> Any:
    if ctx.folders is None:
        raise ValueError("ReadTextFile: this engine has no input folder")
    return resolve_inside(ctx.folders.input, name, what="ReadTextFile file")


class ReadTextFile(Node):
    """Reads a text file from the input folder."""

    display_name = "Read Text File (example)"
    category = "example"
    cache = CachePolicy.FINGERPRINT
    inputs = (Combo("file", choices=TextFiles(), tooltip="A .txt file in the input folder."),)
    outputs = (Output(STRING, "text"),)

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, file: Any = None) -> Any:
        return hashlib.sha256(_path(ctx, str(file)).read_bytes()).hexdigest()

    @classmethod
    def validate(cls, ctx: FingerprintContext, file: Any = None) -> str | None:
        try:
            if not _path(ctx, str(file)).is_file():
                return f"file {file!r} is not in the input folder"
        except PathRefusedError as exc:
            return str(exc)
        return None

    def run(self, ctx: RunContext, file: str) -> tuple[Any, ...]:
        return (_path(ctx, file).read_text(encoding="utf-8"),)


class ShowText(Node):
    """Shows text in the editor (an output node: it makes its inputs run)."""

    display_name = "Show Text (example)"
    category = "example"
    output_node = True
    inputs = (Link("text", STRING, tooltip="The text to show."),)

    def run(self, ctx: RunContext, text: str) -> NodeResult:
        return NodeResult((), {"text": [text]})
