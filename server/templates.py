"""Where the workflow templates of the official ComfyUI frontend come from: the installed
``comfyui-workflow-templates`` packages, found once by the composition root.

ComfyUI v0.3.64 serves the ``templates/`` folder of ``comfyui_workflow_templates`` (index,
workflows and thumbnails in one package) at ``/templates/``; later releases split it into
``comfyui_workflow_templates_core``, ``…_json`` and ``…_media_*`` packages whose files are served
by flat name. We take the ``templates/`` folder of every installed package of that family and
serve a file by name from the first folder that has it. Only an index *with* its media counts:
a JSON-only package (``comfyui-workflow-templates-json``) would give the Templates dialog a list
of broken thumbnails, so without media there are no templates (``index.json`` is ``[]``).
"""

from __future__ import annotations

import logging
from importlib import metadata, resources
from pathlib import Path

logger = logging.getLogger(__name__)
FAMILY = "comfyui_workflow_templates"
MEDIA_SUFFIXES = frozenset({".webp", ".png", ".jpg", ".jpeg", ".mp4", ".webm", ".gif",
                            ".mp3", ".flac", ".wav", ".glb"})


def _package_folder(module: str) -> Path | None:
    try:
        folder = Path(str(resources.files(module) / "templates"))
    except (ModuleNotFoundError, TypeError, ValueError):
        return None
    return folder if folder.is_dir() else None


def _has_media(folder: Path) -> bool:
    return any(path.suffix.lower() in MEDIA_SUFFIXES for path in folder.iterdir())


def find_template_folders() -> tuple[Path, ...]:
    """The ``templates/`` folders of the installed template packages, or ``()`` when none has
    media (see the module docstring)."""
    modules = sorted(name for name in metadata.packages_distributions()
                     if name == FAMILY or name.startswith(FAMILY + "_"))
    if FAMILY in modules:  # the v0.3.64-era package first: it holds index, files and media
        modules.remove(FAMILY)
        modules.insert(0, FAMILY)
    folders = [folder for name in modules if (folder := _package_folder(name)) is not None]
    if not folders:
        return ()
    if not any(_has_media(folder) for folder in folders):
        logger.info("workflow templates without their media (%s): not offered",
                    ", ".join(folder.parent.name for folder in folders))
        return ()
    return tuple(folders)
