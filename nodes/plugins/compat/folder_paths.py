"""ComfyUI's ``folder_paths`` for node packs, over the registry's folders and model files.

Folder lists and lookups read the engine's model folders (``ModelFiles`` port: ``models/``,
``--models-dir``, ``extra_model_paths.yaml``); folders a pack adds (``add_model_folder_path``,
``folder_names_and_paths[...] = ...``) are searched by the pack's own lookups (the built-in
pickers do not list them). Input/output/temp are the server's folders. Names from a request
are contained in their folder (``nodes.api.paths``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from nodes.api.paths import PathRefusedError, resolve_inside
from nodes.plugins.host import current

supported_pt_extensions: set[str] = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors",
                                     ".pkl", ".sft"}
MODEL_FOLDERS = ("checkpoints", "configs", "loras", "vae", "vae_approx", "text_encoders", "clip",
                 "clip_vision", "diffusion_models", "unet", "controlnet", "t2i_adapter",
                 "embeddings", "hypernetworks", "upscale_models", "style_models", "gligen",
                 "photomaker", "classifiers", "diffusers", "custom_nodes")


class _FolderTable(MutableMapping[str, tuple[list[str], set[str]]]):
    """``folder_names_and_paths``: folder -> (search paths, extensions) of the active host;
    the engine's folders are filled in on first access of a name."""

    def _table(self) -> dict[str, tuple[list[str], set[str]]]:
        return current().folder_table  # type: ignore[no-any-return]

    def __getitem__(self, folder: str) -> tuple[list[str], set[str]]:
        table = self._table()
        if folder not in table:
            paths = _engine_paths(folder)
            if not paths and folder not in MODEL_FOLDERS:
                raise KeyError(folder)
            table[folder] = (paths, set(supported_pt_extensions))
        return table[folder]

    def __setitem__(self, folder: str, value: tuple[list[str], set[str]]) -> None:
        paths, extensions = value
        self._table()[folder] = (list(paths), set(extensions))

    def __delitem__(self, folder: str) -> None:
        del self._table()[folder]

    def __contains__(self, folder: object) -> bool:
        return folder in self._table() or folder in MODEL_FOLDERS

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._table(), *MODEL_FOLDERS]))

    def __len__(self) -> int:
        return len(set(self._table()) | set(MODEL_FOLDERS))


def _engine_paths(folder: str) -> list[str]:
    """The engine's search paths of a model folder ([] for a folder it does not know)."""
    try:
        return [str(p) for p in current().registry.schema.model_files.search_paths(folder)]
    except KeyError:
        return []


folder_names_and_paths = _FolderTable()
filename_list_cache: dict[str, Any] = {}


def _folders() -> Any:
    folders = current().registry.schema.folders
    if folders is None:
        raise RuntimeError("this engine has no input/output/temp folders")
    return folders


def get_input_directory() -> str:
    return str(_folders().input)


def get_output_directory() -> str:
    return str(_folders().output)


def get_temp_directory() -> str:
    return str(_folders().temp)


def get_user_directory() -> str:
    return str(Path(_folders().input).parent / "user")


def get_directory_by_type(type_name: str) -> str | None:
    return {"output": get_output_directory, "temp": get_temp_directory,
            "input": get_input_directory}.get(type_name, lambda: None)()


def _base() -> Path:
    return Path(_folders().input).parent


def __getattr__(name: str) -> Any:  # module attributes ComfyUI computes at import time
    if name in ("base_path", "output_directory", "temp_directory", "input_directory",
                "user_directory"):
        return {"base_path": lambda: str(_base()), "output_directory": get_output_directory,
                "temp_directory": get_temp_directory, "input_directory": get_input_directory,
                "user_directory": get_user_directory}[name]()
    if name == "models_dir":
        paths = current().registry.schema.model_files.search_paths("checkpoints")
        return str(paths[0].parent if paths else _base() / "models")
    raise AttributeError(f"module 'folder_paths' has no attribute {name!r}")


def add_model_folder_path(folder_name: str, full_folder_path: str,
                          is_default: bool = False) -> None:
    paths, _ = _new_folder(folder_name)
    if full_folder_path in paths:
        paths.remove(full_folder_path)
    if is_default:
        paths.insert(0, full_folder_path)
    else:
        paths.append(full_folder_path)


def _new_folder(folder_name: str) -> tuple[list[str], set[str]]:
    try:
        return folder_names_and_paths[folder_name]
    except KeyError:
        folder_names_and_paths[folder_name] = ([], set(supported_pt_extensions))
        return folder_names_and_paths[folder_name]


def get_folder_paths(folder_name: str) -> list[str]:
    return list(folder_names_and_paths[folder_name][0])


def _extensions(folder_name: str) -> set[str]:
    return folder_names_and_paths[folder_name][1]


def filter_files_extensions(files: Iterable[str], extensions: Iterable[str]) -> list[str]:
    wanted = {e.lower() for e in extensions}
    return sorted(f for f in files if not wanted or os.path.splitext(f)[-1].lower() in wanted)


def _walk(root: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(root)
        found += [(rel / f).as_posix() for f in filenames if not f.startswith(".")]
    return found


def get_filename_list(folder_name: str) -> list[str]:
    """Relative names of the files of a model folder (the engine's own folders list exactly
    what its pickers list)."""
    paths, extensions = folder_names_and_paths[folder_name]
    names: set[str] = set()
    engine_paths = set(_engine_paths(folder_name))
    if engine_paths:
        names.update(current().registry.schema.model_files.files(folder_name))
    for path in paths:
        if path not in engine_paths and os.path.isdir(path):
            names.update(_walk(Path(path)))
    return filter_files_extensions(names, extensions)


def get_full_path(folder_name: str, filename: str) -> str | None:
    """The file's path, or None: the engine's own lookup first (what its pickers list), then
    folders the packs added; a name that leaves its folder is never found."""
    model_files = current().registry.schema.model_files
    try:
        return str(model_files.resolve(folder_name, filename))
    except Exception:  # not one of the engine's files (or folders): look further
        pass
    try:
        paths = folder_names_and_paths[folder_name][0]
    except KeyError:
        return None
    for root in paths:
        try:
            path = resolve_inside(Path(root), str(filename), what=f"{folder_name} file")
        except PathRefusedError:
            return None
        if path.is_file():
            return str(path)
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    found = get_full_path(folder_name, filename)
    if found is None:
        raise FileNotFoundError(f"model in folder {folder_name!r} with filename {filename!r} "
                                "not found")
    return found


_ANNOTATION = re.compile(r"^(.*) \[(input|output|temp)\]$")


def annotated_filepath(name: str) -> tuple[str, str | None]:
    match = _ANNOTATION.match(name)
    if match:
        return match.group(1), get_directory_by_type(match.group(2))
    return name, None


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    name, base = annotated_filepath(name)
    root = base or default_dir or get_input_directory()
    return str(resolve_inside(Path(root), name, what="file name"))


def exists_annotated_filepath(name: str) -> bool:
    try:
        return os.path.exists(get_annotated_filepath(name))
    except PathRefusedError:
        return False


def get_save_image_path(filename_prefix: str, output_dir: str, image_width: int = 0,
                        image_height: int = 0) -> tuple[str, str, int, str, str]:
    """(folder, file name stem, next counter, subfolder, prefix) for ``<prefix>_NNNNN_.png``
    files: ``%width%``/``%height%``/date fields substituted, the counter one more than the
    highest existing one, the folder kept inside ``output_dir``."""
    prefix = _substitute(filename_prefix, image_width, image_height)
    subfolder, filename = os.path.split(os.path.normpath(prefix))
    full_folder = resolve_inside(Path(output_dir), subfolder, what="filename_prefix",
                                 allow_empty=True)
    pattern = re.compile(re.escape(filename) + r"_(\d+)_?\.[A-Za-z0-9]+$")
    counter = 0
    if full_folder.is_dir():
        for entry in os.listdir(full_folder):
            match = pattern.match(entry)
            if match:
                counter = max(counter, int(match.group(1)))
    return str(full_folder), filename, counter + 1, subfolder, prefix


def _substitute(text: str, width: int, height: int) -> str:
    if "%" not in text:
        return text
    now = time.localtime()
    fields = {"%width%": str(width), "%height%": str(height), "%year%": str(now.tm_year),
              "%month%": f"{now.tm_mon:02d}", "%day%": f"{now.tm_mday:02d}",
              "%hour%": f"{now.tm_hour:02d}", "%minute%": f"{now.tm_min:02d}",
              "%second%": f"{now.tm_sec:02d}"}
    for key, value in fields.items():
        text = text.replace(key, value)
    return text


def get_input_subfolders() -> list[str]:
    root = Path(get_input_directory())
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


def recursive_search(directory: str, excluded_dir_names: list[str] | None = None
                     ) -> tuple[list[str], dict[str, float]]:
    if not os.path.isdir(directory):
        return [], {}
    return _walk(Path(directory)), {directory: os.path.getmtime(directory)}


def cache_helper() -> Any:  # ComfyUI's per-request list cache: lists are read fresh here
    import contextlib

    return contextlib.nullcontext()
