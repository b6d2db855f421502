"""Model folders in ComfyUI's layout, plus extra search paths: the ``model_files`` port.

``ModelFolders.under(models_dir)`` gives ComfyUI's default folders (``checkpoints``, ``loras``,
``vae``, ``text_encoders`` ← ``models/text_encoders`` and ``models/clip``, ``diffusion_models``
← ``models/unet`` and ``models/diffusion_models``, …). The legacy names ``clip`` and ``unet``
are aliases of ``text_encoders`` and ``diffusion_models``. ``add`` appends a search path (or
puts it first with ``is_default``), which is how ``extra_model_paths.yaml`` entries arrive
(``nodes.models.extra_paths``), so an existing ComfyUI or A1111 model tree is used in place.

``files`` lists every model file under a folder's search paths, recursively, as relative POSIX
names (``sd15/model.safetensors``), re-reading the disk on every call (pickers call it through
``nodes.api.ModelFolderFiles``). The folders are the owner's configuration: links inside them
(files or folders of a shared model store elsewhere) are listed and loaded. A name from a
request is resolved (:meth:`ModelFolders.resolve`) in the first search path holding it, and only
to an entry below the folder (``nodes.api.paths.entry_inside``: no ``..``, no absolute path;
model suffixes only; ``configs`` holds ``.yaml`` LDM configs, ``diffusers`` pipeline folders).
``checkpoints``, ``controlnet`` and ``loras`` always search the embedded demo model's folders
last (``diffusion.embedded.EMBEDDED_PATHS``: the model, its ControlNet and its LoRA), whatever
the base directory.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from diffusion.embedded import EMBEDDED_PATHS
from nodes.api.paths import entry_inside, list_entries

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
    "ipadapter": ("ipadapter",),  # the IPAdapter plugin's folder (models/ipadapter)
    "gligen": ("gligen",),
    "photomaker": ("photomaker",),
    "hypernetworks": ("hypernetworks",),
    "configs": ("configs",),
    "diffusers": ("diffusers",),
}
# Folders whose entries are not model files: LDM configs (.yaml, as ComfyUI lists them) and
# diffusers pipeline folders (listed by DiffusersLoader, never as files).
FOLDER_SUFFIXES: dict[str, frozenset[str]] = {
    "configs": frozenset({".yaml"}),
    "diffusers": frozenset(),
}


class ModelNotFoundError(FileNotFoundError):
    """A picked model name that no search path of its folder holds."""


def canonical(folder: str) -> str:
    """The folder name behind a legacy alias (``clip`` → ``text_encoders``)."""
    return ALIASES.get(folder, folder)


def suffixes_of(folder: str) -> frozenset[str]:
    """The file suffixes a folder lists and resolves (model files unless said otherwise)."""
    return FOLDER_SUFFIXES.get(canonical(folder), MODEL_EXTENSIONS)


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
        """The folder's search paths in order; ``checkpoints``, ``controlnet`` and ``loras``
        always end with the embedded demo files' folder (so a user's file of the same name
        wins)."""
        name = canonical(folder)
        embedded = EMBEDDED_PATHS.get(name)
        if name not in self.paths and embedded is None:
            raise KeyError(f"unknown model folder {folder!r}; known: {sorted(self.paths)}")
        paths = list(self.paths.get(name, ()))
        if embedded is not None and embedded not in paths:
            paths.append(embedded)
        return paths

    def files(self, folder: str) -> list[str]:
        """Sorted relative names of the model files in ``folder`` (first path wins a name);
        links inside the folder (a shared model store) are followed."""
        names: set[str] = set()
        for root in self.search_paths(folder):
            names.update(list_entries(root, suffixes_of(folder)))
        return sorted(names)

    def resolve(self, folder: str, name: object, *, what: str = "model name") -> Path:
        """The file ``name`` picked from ``folder``: the first search path holding it.

        Raises ``PathRefusedError`` for a name that would leave its folder and
        ``ModelNotFoundError`` when no search path holds the file.
        """
        roots = self.search_paths(folder)
        for root in roots:
            path = entry_inside(root, name, what=what)
            if path.suffix.lower() in suffixes_of(folder) and path.is_file() and \
                    ".git" not in path.relative_to(os.path.abspath(root)).parts:
                return path
        raise ModelNotFoundError(
            f"{what} {name!r} not found in model folder {canonical(folder)!r} "
            f"(searched {[str(r) for r in roots]})"
        )
