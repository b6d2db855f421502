"""ComfyUI's ``extra_model_paths.yaml``: more search paths for the model folders.

Each top-level section (any name: ``comfyui:``, ``a111:``, ``a1111:`` …) maps folder names to
one or more paths, several separated by newlines (a YAML ``|`` block). ``base_path`` (``~`` and
``$VARS`` expanded; relative to the YAML file's folder) is joined to every path of its section;
without it, relative paths are relative to the YAML file's folder. ``is_default: true`` puts the
section's paths first. Legacy names (``clip``, ``unet``) map to their current folders, and
unknown folder names (``configs``, ``hypernetworks`` …) are kept, as ComfyUI does. A1111's own
folder names need nothing special: its section simply says ``checkpoints:
models/Stable-diffusion``, ``vae: models/VAE``, ``loras: models/Lora``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nodes.models.folders import ModelFolders

logger = logging.getLogger(__name__)


class ExtraPathsError(ValueError):
    """An ``extra_model_paths.yaml`` that does not have ComfyUI's shape."""


@dataclass(frozen=True)
class ExtraPath:
    folder: str
    path: Path
    is_default: bool = False


def _expand(value: str, base: Path) -> Path:
    path = Path(os.path.expandvars(os.path.expanduser(value)))
    return path if path.is_absolute() else base / path


def _lines(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [line.strip() for line in value.split("\n") if line.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ExtraPathsError(f"{where}: expected a path or newline-separated paths, got {value!r}")


def _section(name: str, conf: Mapping[str, Any], yaml_dir: Path, source: Path) -> list[ExtraPath]:
    conf = dict(conf)
    base_value = conf.pop("base_path", None)
    is_default = bool(conf.pop("is_default", False))
    base = None
    if base_value is not None:
        if not isinstance(base_value, str):
            raise ExtraPathsError(f"{source}: {name}.base_path must be a string")
        base = _expand(base_value, yaml_dir)
    found = []
    for folder, value in conf.items():
        for line in _lines(value, f"{source}: {name}.{folder}"):
            path = _expand(line, base if base is not None else yaml_dir)
            found.append(ExtraPath(str(folder), Path(os.path.normpath(path)), is_default))
    return found


def parse_extra_paths(path: Path) -> list[ExtraPath]:
    """The search paths an ``extra_model_paths.yaml`` declares, in file order."""
    source = Path(path)
    try:
        config = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ExtraPathsError(f"{source}: not valid YAML ({exc})") from exc
    if config is None:
        return []
    if not isinstance(config, Mapping):
        raise ExtraPathsError(f"{source}: expected sections of folder: path entries")
    yaml_dir = source.resolve().parent
    found: list[ExtraPath] = []
    for name, conf in config.items():
        if conf is None:
            continue
        if not isinstance(conf, Mapping):
            raise ExtraPathsError(f"{source}: section {name!r} must map folder names to paths")
        found += _section(str(name), conf, yaml_dir, source)
    return found


def add_extra_paths(folders: ModelFolders, path: Path) -> list[ExtraPath]:
    """Adds the search paths of the YAML file at ``path`` to ``folders``; returns them."""
    entries = parse_extra_paths(path)
    for entry in entries:
        folders.add(entry.folder, entry.path, is_default=entry.is_default)
    logger.info("%s: %d extra model search paths", path, len(entries))
    return entries
