"""Read-only information: node definitions, system stats, features, model folders."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import struct
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from aiohttp import web

from nodes.api import Registry
from nodes.api.paths import PathRefusedError, entry_inside, list_entries, resolve_inside
from server.comfy_site import extension_folders
from server.errors import BadRequestError, NotFoundError
from server.frontend_loaders import missing_loaders
from server.routes.common import reply
from server.settings import COMFYUI_VERSION, MODEL_FOLDERS
from server.state import BACKEND, INSTANCE, REGISTRY, SETTINGS

routes = web.RouteTableDef()

# Only formats that load without unpickling are offered (no .ckpt/.pt/.pth/.bin).
MODEL_SUFFIXES = frozenset({".safetensors", ".sft", ".gguf"})
CONFIG_SUFFIXES = frozenset({".yaml", ".json"})
MAX_HEADER_BYTES = 64 * 2**20


def server_features(settings: Any) -> dict[str, Any]:
    return {"supports_preview_metadata": True, "max_upload_size": settings.max_upload_bytes}


def _placeholders(request: web.Request) -> dict[str, dict[str, Any]]:
    """With the official frontend, the loaders it assumes exist (``server.frontend_loaders``)."""
    if request.app[SETTINGS].frontend_root is None:
        return {}
    registry: Registry = request.app[REGISTRY]
    return missing_loaders(registry)


@routes.get("/object_info")
async def object_info(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    info = await asyncio.get_running_loop().run_in_executor(None, registry.object_info)
    return reply({**info, **_placeholders(request)})


@routes.get("/object_info/{node_class}")
async def object_info_one(request: web.Request) -> web.Response:
    registry, name = request.app[REGISTRY], request.match_info["node_class"]
    if name in registry:
        return reply({name: registry.node_info(name)})
    placeholder = _placeholders(request).get(name)
    return reply({name: placeholder} if placeholder is not None else {})


def _memory() -> tuple[int, int]:
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        with open("/proc/meminfo", encoding="ascii") as info:
            fields = dict(line.split(":", 1) for line in info)
        free = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, ValueError, KeyError):
        return 0, 0
    return total, free


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    """ComfyUI's fields (argv is fixed: it never shows tokens or paths), plus who we are.

    ``comfyui_version`` is the ComfyUI release whose API and nodes we follow (clients and the
    official frontend compare it with their requirements); ``latentgraph_version`` is ours."""
    settings, instance = request.app[SETTINGS], request.app[INSTANCE]
    total, free = _memory()
    devices = await asyncio.get_running_loop().run_in_executor(None,
                                                               request.app[BACKEND].devices)
    system = {
        "os": os.name, "ram_total": total, "ram_free": free,
        "comfyui_version": COMFYUI_VERSION, "latentgraph_version": settings.version,
        "python_version": sys.version, "pytorch_version": _version("torch"),
        "embedded_python": False, "argv": ["latentgraph", "serve"],
        "platform": platform.system().lower(), "instance_id": instance.instance_id,
        "epoch": instance.epoch, "started": instance.started_ms,
    }
    return reply({"system": system, "devices": devices})


@routes.get("/features")
async def features(request: web.Request) -> web.Response:
    return reply(server_features(request.app[SETTINGS]))


def _web_folders(request: web.Request) -> dict[str, Path]:
    """Node packs' front-end folders, plus ours and the official frontend's ``core`` when it is
    served (``server.comfy_site``); a node pack keeps its name."""
    builtin = extension_folders(request.app[SETTINGS].frontend_root)
    return {**builtin, **request.app[REGISTRY].web_directories()}


@routes.get("/extensions")
async def extensions(request: web.Request) -> web.Response:
    """The ``.js`` files node packs expose, as URLs the editor imports (ComfyUI's shape). The
    official frontend's ``core`` modules are served but not listed: they are in its bundle."""
    urls = []
    packs = request.app[REGISTRY].web_directories()
    for pack, folder in sorted(_web_folders(request).items()):
        if pack == "core" and pack not in packs:
            continue
        for path in sorted(folder.rglob("*.js")):
            if path.is_file() and path.resolve().is_relative_to(folder):
                urls.append(f"/extensions/{pack}/{path.relative_to(folder).as_posix()}")
    return reply(urls)


@routes.get("/extensions/{pack}/{tail:.+}")
async def extension_file(request: web.Request) -> web.StreamResponse:
    """One front-end file of a node pack: JavaScript or CSS only, contained in its folder."""
    folder = _web_folders(request).get(request.match_info["pack"])
    tail = request.match_info["tail"]
    if folder is None or not tail.endswith((".js", ".css")):
        raise NotFoundError("not_found", "No such extension file", repr(tail))
    try:
        path = resolve_inside(folder, tail, what="extension file")
    except PathRefusedError as exc:
        raise NotFoundError("not_found", "No such extension file", str(exc)) from exc
    if not path.is_file():
        raise NotFoundError("not_found", "No such extension file", repr(tail))
    kind = "text/javascript" if path.suffix == ".js" else "text/css"
    return web.FileResponse(path, headers={"Content-Type": kind,
                                           "X-Content-Type-Options": "nosniff"})


def _folder_roots(request: web.Request, folder: str) -> tuple[Path, ...]:
    if folder not in MODEL_FOLDERS:
        raise NotFoundError("unknown_folder", "Unknown model folder",
                            f"{folder!r}; choose from {list(MODEL_FOLDERS)}")
    return request.app[SETTINGS].model_search_paths(folder)


def list_model_files(root: Path, suffixes: frozenset[str]) -> list[str]:
    """Relative paths of files under ``root`` with one of ``suffixes``; links the owner placed
    in the model folder (a shared store) are followed, as the model nodes do."""
    return list_entries(root, suffixes)


@routes.get("/models")
async def models(request: web.Request) -> web.Response:
    return reply(list(MODEL_FOLDERS))


@routes.get("/models/{folder}")
async def model_folder(request: web.Request) -> web.Response:
    folder = request.match_info["folder"]
    roots = _folder_roots(request, folder)
    suffixes = CONFIG_SUFFIXES if folder == "configs" else MODEL_SUFFIXES
    loop = asyncio.get_running_loop()
    names: set[str] = set()
    for root in roots:
        names.update(await loop.run_in_executor(None, list_model_files, root, suffixes))
    return reply(sorted(names))


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    root = request.app[SETTINGS].models_dir / "embeddings"
    loop = asyncio.get_running_loop()
    names = await loop.run_in_executor(None, list_model_files, root, MODEL_SUFFIXES)
    return reply([name.rsplit(".", 1)[0] for name in names])


def read_safetensors_metadata(path: Path) -> dict[str, Any] | None:
    """The ``__metadata__`` of a safetensors header (JSON only; nothing is unpickled)."""
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ValueError("file too short for a safetensors header")
        (size,) = struct.unpack("<Q", prefix)
        if size > MAX_HEADER_BYTES:
            raise ValueError(f"safetensors header of {size} bytes is too large")
        header = json.loads(handle.read(size))
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else None


@routes.get("/view_metadata/{folder}")
async def view_metadata(request: web.Request) -> web.Response:
    roots = _folder_roots(request, request.match_info["folder"])
    filename = request.query.get("filename")
    if not filename:
        raise BadRequestError("invalid_parameter", "filename is required")
    candidates = [entry_inside(root, filename, what="filename") for root in roots]
    path = next((p for p in candidates if p.is_file()), candidates[0])
    if path.suffix.lower() not in (".safetensors", ".sft") or not path.is_file():
        raise NotFoundError("not_found", "No such safetensors file", filename)
    loop = asyncio.get_running_loop()
    try:
        meta = await loop.run_in_executor(None, read_safetensors_metadata, path)
    except (ValueError, OSError) as exc:
        raise BadRequestError("invalid_model_file", "Cannot read the header", str(exc)) from None
    if meta is None:
        raise NotFoundError("no_metadata", "The file has no metadata", filename)
    return reply(meta)
