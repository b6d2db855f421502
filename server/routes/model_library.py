"""ComfyUI's model library routes, which the official frontend's Model Library panel reads:
``/experiment/models``, ``/experiment/models/{folder}``, the preview image of one model, and
``/internal/folder_paths`` (the missing-models dialog).

Folders are shown as the rest of the API shows server paths (``server.redact``): relative to
the base folder (``models/checkpoints``), a folder elsewhere by its label, never the server's
absolute paths, which ComfyUI would show. ``pathIndex`` still counts a folder's search paths in
order, so a preview request names the same root the listing did.

A listed model without a preview image answers a transparent 1×1 WEBP, not ComfyUI's 404: the
Model Library asks for the preview of every model in a folder it opens, so each model without
one would log a console error. An unknown folder, root index or model name is still a 404.
"""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image

from nodes.api.paths import PathRefusedError, entry_inside
from server.errors import NotFoundError
from server.routes.common import reply
from server.routes.info import CONFIG_SUFFIXES, MODEL_SUFFIXES, list_model_files
from server.settings import MODEL_FOLDERS
from server.state import REDACTOR, SETTINGS

routes = web.RouteTableDef()

LIBRARY_SKIPS = frozenset({"configs", "custom_nodes"})  # ComfyUI's folder black list
PREVIEW_SUFFIXES = (".webp", ".preview.webp", ".png", ".preview.png", ".jpg", ".jpeg",
                    ".preview.jpg", ".preview.jpeg")


def _roots(request: web.Request, folder: str) -> tuple[Path, ...]:
    if folder not in MODEL_FOLDERS:
        raise NotFoundError("unknown_folder", "Unknown model folder",
                            f"{folder!r}; choose from {list(MODEL_FOLDERS)}")
    return request.app[SETTINGS].model_search_paths(folder)


def _shown(request: web.Request, roots: tuple[Path, ...]) -> list[str]:
    redactor = request.app[REDACTOR]
    return [redactor.text(str(root)) for root in roots]


@routes.get("/experiment/models")
async def model_folders(request: web.Request) -> web.Response:
    """``[{"name": folder, "folders": [path, …]}, …]`` without configs (ComfyUI's shape)."""
    settings = request.app[SETTINGS]
    return reply([{"name": folder, "folders": _shown(request, settings.model_search_paths(folder))}
                  for folder in MODEL_FOLDERS if folder not in LIBRARY_SKIPS])


def file_infos(roots: tuple[Path, ...], suffixes: frozenset[str]) -> list[dict[str, Any]]:
    """ComfyUI's entries: name, pathIndex (which root), modified, created, size."""
    infos: list[dict[str, Any]] = []
    for index, root in enumerate(roots):
        for name in list_model_files(root, suffixes):
            try:
                stat = os.stat(root / name)
            except OSError:
                continue
            infos.append({"name": name, "pathIndex": index, "modified": stat.st_mtime,
                          "created": stat.st_ctime, "size": stat.st_size})
    return infos


@routes.get("/experiment/models/{folder}")
async def model_files(request: web.Request) -> web.Response:
    folder = request.match_info["folder"]
    roots = _roots(request, folder)
    suffixes = CONFIG_SUFFIXES if folder == "configs" else MODEL_SUFFIXES
    infos = await asyncio.get_running_loop().run_in_executor(None, file_infos, roots, suffixes)
    return reply(infos)


def _webp(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP")
    return buffer.getvalue()


NO_PREVIEW = _webp(Image.new("RGBA", (1, 1), (0, 0, 0, 0)))


def preview_webp(model: Path) -> bytes | None:
    """The image beside a model file (``x.webp``, ``x.preview.png`` …) as WEBP, ``NO_PREVIEW``
    for a model without one, ``None`` when there is no such model."""
    stem = model.with_suffix("")
    for suffix in PREVIEW_SUFFIXES:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.is_file():
            with Image.open(candidate) as image:
                return _webp(image)
    models = [stem.with_name(stem.name + suffix) for suffix in (*MODEL_SUFFIXES, *CONFIG_SUFFIXES)]
    return NO_PREVIEW if any(path.is_file() for path in models) else None


@routes.get("/experiment/models/preview/{folder}/{path_index}/{filename:.+}")
async def model_preview(request: web.Request) -> web.Response:
    roots = _roots(request, request.match_info["folder"])
    raw_index, filename = request.match_info["path_index"], request.match_info["filename"]
    if not raw_index.isdigit() or int(raw_index) >= len(roots):
        raise NotFoundError("not_found", "No such model folder index", repr(raw_index))
    try:
        model = entry_inside(roots[int(raw_index)], filename, what="filename")
    except PathRefusedError as exc:
        raise NotFoundError("not_found", "No preview for this model", str(exc)) from None
    loop = asyncio.get_running_loop()
    try:
        data = await loop.run_in_executor(None, preview_webp, model)
    except (OSError, ValueError) as exc:
        raise NotFoundError("not_found", "The preview image cannot be read", str(exc)) from None
    if data is None:
        raise NotFoundError("not_found", "No such model", filename)
    return web.Response(body=data, content_type="image/webp")


@routes.get("/internal/folder_paths")
async def folder_paths(request: web.Request) -> web.Response:
    """``{folder: [path, …]}`` for every model folder, paths as ``/experiment/models``."""
    settings = request.app[SETTINGS]
    return reply({folder: _shown(request, settings.model_search_paths(folder))
                  for folder in MODEL_FOLDERS})
