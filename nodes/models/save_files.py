"""Where the saving nodes write: a new file in the output folder, named as ComfyUI names it.

``filename_prefix`` goes through SaveImage's rules (``nodes.images.filenames``): the date
variables are substituted (``%width%`` / ``%height%`` are 0, as ComfyUI passes no size), ``/``
makes subfolders that must stay inside the output folder (``../x`` is refused), and the file is
``<name>_<counter:05>_.safetensors`` with the counter after the highest existing one, created
exclusively (two jobs never write one file). A save that fails removes its partial file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nodes.api import RunContext
from nodes.api.paths import PathRefusedError
from nodes.images.filenames import create_exclusive, next_counter, save_target, substitute
from nodes.images.png_metadata import workflow_texts

logger = logging.getLogger(__name__)

SUFFIX = ".safetensors"


@dataclass(frozen=True)
class SavedFile:
    """A file a node wrote: its name, subfolder (as reported), name part and counter."""

    path: Path
    filename: str
    subfolder: str
    name: str
    counter: int

    @property
    def relative(self) -> str:
        return f"{self.subfolder}/{self.filename}" if self.subfolder else self.filename


@contextmanager
def output_file(ctx: RunContext, node: str, prefix: str) -> Iterator[tuple[BinaryIO, SavedFile]]:
    """A new ``.safetensors`` file for ``prefix`` in the output folder (see the module doc)."""
    if ctx.folders is None:
        raise ValueError(f"{node}: this engine has no output folder to save into")
    try:
        target = save_target(ctx.folders.output, substitute(prefix, 0, 0))
    except PathRefusedError as exc:
        raise PathRefusedError(f"{node} input 'filename_prefix'", prefix, exc.reason) from None
    target.folder.mkdir(parents=True, exist_ok=True)
    counter = next_counter(target.folder, target.name)
    with create_exclusive(target.folder, target.name, counter, SUFFIX) as (out, filename, used):
        saved = SavedFile(target.folder / filename, filename, target.subfolder, target.name, used)
        yield out, saved
    logger.info("%s wrote %s", node, saved.path)


def workflow_metadata(ctx: RunContext) -> dict[str, str]:
    """The prompt and each extra_pnginfo entry (the workflow) as JSON, as ComfyUI stores them
    in a saved model's metadata."""
    extra: Mapping[str, Any] = ctx.extra_pnginfo or {}
    return workflow_texts(ctx.prompt, extra)


__all__ = ["SUFFIX", "SavedFile", "output_file", "workflow_metadata"]
