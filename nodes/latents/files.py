"""SaveLatent and LoadLatent: ComfyUI's ``.latent`` files (``nodes.latents.latent_file``).

SaveLatent names files as SaveImage does (``<prefix>_<counter:05>_.latent`` in the output
folder; '/' in the prefix makes subfolders, kept inside the folder); LoadLatent lists the
``.latent`` files directly in the input folder and also takes ``sub/name.latent`` and annotated
names (``name.latent [output]``). Every name goes through ``nodes.api.paths``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.api import (
    LATENT,
    CachePolicy,
    FingerprintContext,
    Folders,
    Hidden,
    Link,
    Node,
    NodeResult,
    Output,
    RunContext,
    SchemaContext,
    String,
)
from nodes.api.inputs import SchemaChoices
from nodes.api.paths import PathRefusedError, resolve_annotated
from nodes.images.filenames import next_counter, save_target, substitute, write_exclusive
from nodes.images.io import file_sha256
from nodes.images.pickers import ImageFileCombo
from nodes.images.png_metadata import workflow_texts
from nodes.latents.latent_file import LATENT_SUFFIX, latent_file_bytes, read_latent_file
from nodes.payloads import Latent


def _folders(folders: Folders | None, node: str) -> Folders:
    if folders is None:
        raise RuntimeError(f"{node}: no folders are configured (the engine has folders=None)")
    return folders


def latent_files_in(folder: Path) -> list[str]:
    """The sorted ``.latent`` files directly in ``folder`` (links leaving it are not offered)."""
    root = folder.resolve()
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    names = [e.name for e in entries if e.name.endswith(LATENT_SUFFIX)
             and Path(e.path).resolve().is_file()
             and Path(e.path).resolve().is_relative_to(root)]
    return sorted(names)


@dataclass(frozen=True)
class InputLatentFiles(SchemaChoices):
    """Choices: the ``.latent`` files of the input folder, re-read on every call."""

    def __call__(self, schema: SchemaContext) -> list[str]:
        return [] if schema.folders is None else latent_files_in(Path(schema.folders.input))


class SaveLatent(Node):
    """Saves the latents as a ComfyUI .latent file in the output folder, with the prompt and
    workflow in its metadata (the noise mask and batch index are not saved)."""

    category = "_for_testing"
    output_node = True
    hidden = frozenset({Hidden.PROMPT, Hidden.EXTRA_PNGINFO})
    inputs = (
        Link("samples", LATENT, tooltip="The latents to save."),
        String("filename_prefix", default="latents/ComfyUI",
               tooltip="The file name prefix; '/' makes subfolders. %year% %month% %day% "
                       "%hour% %minute% %second% are replaced."),
    )

    def run(self, ctx: RunContext, samples: Latent, filename_prefix: str) -> NodeResult:
        root = _folders(ctx.folders, self.type_name).output
        target = save_target(root, substitute(filename_prefix, 0, 0))
        target.folder.mkdir(parents=True, exist_ok=True)
        texts = workflow_texts(ctx.prompt, ctx.extra_pnginfo)
        data = latent_file_bytes(samples.samples, {"prompt": "", **texts})
        counter = next_counter(target.folder, target.name)
        filename, _ = write_exclusive(target.folder, target.name, counter, LATENT_SUFFIX, data)
        saved = {"filename": filename, "subfolder": target.subfolder, "type": "output"}
        return NodeResult((), {"latents": [saved]})


def latent_path(folders: Folders | None, latent: Any) -> Path:
    """The file a ``latent`` input names (``name.latent``, ``sub/x.latent``, ``x [output]``)."""
    return resolve_annotated(_folders(folders, "LoadLatent"), latent,
                             what="LoadLatent input 'latent'")


class LoadLatent(Node):
    """Loads a ComfyUI .latent file from the input folder (files of the old format, without
    the version marker, are unscaled by 1 / 0.18215)."""

    category = "_for_testing"
    cache = CachePolicy.FINGERPRINT
    inputs = (ImageFileCombo("latent", choices=InputLatentFiles(),
                             tooltip="A .latent file in the input folder; sub/name.latent and "
                                     "'name.latent [output]' are accepted too."),)
    outputs = (Output(LATENT),)

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, latent: Any = None) -> Any:
        if latent is None:
            raise ValueError("LoadLatent input 'latent' is linked; its file cannot be hashed early")
        return file_sha256(latent_path(ctx.folders, latent))

    @classmethod
    def validate(cls, ctx: FingerprintContext, latent: Any = None) -> str | None:
        if latent is None:
            return None
        try:
            path = latent_path(ctx.folders, latent)
        except (PathRefusedError, RuntimeError) as exc:
            return f"Invalid latent file: {latent} ({exc})"
        return None if path.is_file() else f"Invalid latent file: {latent}"

    def run(self, ctx: RunContext, latent: str) -> tuple[Any, ...]:
        path = latent_path(ctx.folders, latent)
        samples = read_latent_file(path, "LoadLatent input 'latent'")
        if samples.ndim != 4:
            raise ValueError(f"LoadLatent input 'latent': {latent!r} holds latents of shape "
                             f"{tuple(samples.shape)}; only image latents (B, C, H, W) load")
        return (Latent(samples),)


LATENT_FILE_NODES = [SaveLatent, LoadLatent]
