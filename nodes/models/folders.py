"""Model folders in ComfyUI's layout, plus extra search paths: the ``model_files`` port.

``ModelFolders.under(models_dir)`` gives ComfyUI's default folders (``checkpoints``, ``loras``,
``vae``, ``text_encoders`` ← ``models/text_encoders`` and ``models/clip``, ``diffusion_models``
← ``models/unet`` and ``models/diffusion_models``, …). The legacy names ``clip`` and ``unet``
are aliases of ``text_encoders`` and ``diffusion_models``. ``add`` appends a search path (or
puts it first with ``is_default``), which is how ``extra_model_paths.yaml`` entries arrive
(``nodes.models.extra_paths``), so an existing ComfyUI or A1111 model tree is used in place.

``files`` lists every model file under a folder's search paths, recursively, as relative POSIX
names (``sd15/model.safetensors``), re-reading the disk on every call (pickers call it through
``nodes.api.ModelFolderFiles``). A name
is resolved (:meth:`ModelFolders.resolve`) in the first search path holding it, through
``nodes.api.paths.resolve_inside``: a name that leaves its folder, even by a symlink, is refused
and never listed. ``checkpoints`` always searches the embedded demo model's folder last
(``diffusion.embedded``), whatever the base directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from diffusion.embedded import EMBEDDED_DIR
from nodes.api.paths import PathRefusedError, resolve_inside

logger = logging.getLogger(__name__)

MODEL_EXTENSIONS = frozenset({".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft"})
ALIASES = {"clip": "text_encoders", "unet": "diffusion_models"}
# Folder name -> subfolders of the models dir, in ComfyUI's search order.
DEFAULT_LAYOUT: dict[str, tuple[str, ...]] = {
    "checkpoints": ("checkpoints",),
    "loras": ("loras",),
    "vae": ("vae",),
    "text_encoders": ("text_encoders", "clip"),
    "diffusion_models": ("unet", "diffusion_models"),
    "clip_vision": ("clip_vision",),
    "controlnet": ("controlnet", "t2i_adapter"),
    "embeddings": ("embeddings",),
    "upscale_models": ("upscale_models",),
    "vae_approx": ("vae_approx",),
    "style_models": ("style_models",),
    "gligen": ("gligen",),
    "hypernetworks": ("hypernetworks",),
}
_SKIPPED_DIRS = frozenset({".git"})
EMBEDDED_FOLDER = "checkpoints"  # the folder that always lists the embedded demo model


class ModelNotFoundError(FileNotFoundError):
    """A picked model name that no search path of its folder holds."""


def canonical(folder: str) -> str:
    """The folder name behind a legacy alias (``clip`` → ``text_encoders``)."""
    return ALIASES.get(folder, folder)


@dataclass
class ModelFolders:
    """Search paths per model folder name. Plain paths: the disk is read on every listing."""

    paths: dict[str, list[Path]] = field(default_factory=dict)

    @classmethod
    def under(cls, models_dir: Path) -> ModelFolders:
        """ComfyUI's default layout under ``models_dir`` (folders need not exist)."""
        base = Path(models_dir)
        return cls({name: [base / sub for sub in subs] for name, subs in DEFAULT_LAYOUT.items()})

    def add(self, folder: str, path: Path, *, is_default: bool = False) -> None:
        """Another search path for ``folder`` (first with ``is_default``, as ComfyUI)."""
        entries = self.paths.setdefault(canonical(folder), [])
        path = Path(path)
        if path in entries:
            entries.remove(path)
        if is_default:
            entries.insert(0, path)
        else:
            entries.append(path)
        logger.info("model folder %s: search path %s", canonical(folder), path)

    def search_paths(self, folder: str) -> list[Path]:
        """The folder's search paths in order; ``checkpoints`` always ends with the embedded
        demo model's folder (so a user's file of the same name wins)."""
        name = canonical(folder)
        if name not in self.paths and name != EMBEDDED_FOLDER:
            raise KeyError(f"unknown model folder {folder!r}; known: {sorted(self.paths)}")
        paths = list(self.paths.get(name, ()))
        if name == EMBEDDED_FOLDER and EMBEDDED_DIR not in paths:
            paths.append(EMBEDDED_DIR)
        return paths

    def files(self, folder: str) -> list[str]:
        """Sorted relative names of the model files in ``folder`` (first path wins a name)."""
        names: set[str] = set()
        for root in self.search_paths(folder):
            names.update(_model_files(root))
        return sorted(names)

    def resolve(self, folder: str, name: object, *, what: str = "model name") -> Path:
        """The file ``name`` picked from ``folder``: the first search path holding it.

        Raises ``PathRefusedError`` for a name that would leave its folder and
        ``ModelNotFoundError`` when no search path holds the file.
        """
        roots = self.search_paths(folder)
        for root in roots:
            path = resolve_inside(root, name, what=what)
            if path.is_file():
                return path
        raise ModelNotFoundError(
            f"{what} {name!r} not found in model folder {canonical(folder)!r} "
            f"(searched {[str(r) for r in roots]})"
        )


def _walk(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` following links, never entering one directory twice (link loops)."""
    seen: set[str] = set()
    for top, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        yield top, dirs, files


def _model_files(root: Path) -> Iterable[str]:
    """Relative POSIX names of model files under ``root`` that resolve inside it."""
    if not root.is_dir():
        return []
    base = root.resolve()
    found = []
    for top, _dirs, files in _walk(root):
        for file_name in files:
            if Path(file_name).suffix.lower() not in MODEL_EXTENSIONS:
                continue
            relative = Path(top, file_name).relative_to(root).as_posix()
            try:
                target = resolve_inside(base, relative)
            except PathRefusedError:
                logger.warning("model folder %s: %s leaves the folder; not listed", root, relative)
                continue
            if target.is_file():
                found.append(relative)
    return found
