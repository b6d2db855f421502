"""Per-user storage (single-user mode): ``/users``, ``/settings``, ``/userdata``.

Everything lives under ``user/default``; every path goes through ``nodes.api.paths``. Files are
sent as downloads with ``nosniff`` (JSON as ``application/json``, ``user.css`` as ``text/css``).
The job database is not under ``user/``, so none of this can reach it.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from nodes.api.paths import resolve_inside
from server.errors import BadRequestError, ConflictError, NotFoundError
from server.request_body import read_limited
from server.routes.common import query_bool, read_json, read_object, reply
from server.state import SETTINGS

routes = web.RouteTableDef()
SETTINGS_FILE = "comfy.settings.json"


def _root(request: web.Request) -> Path:
    return request.app[SETTINGS].user_dir / "default"


def _user_path(request: web.Request, relative: str) -> Path:
    if not relative:
        raise BadRequestError("invalid_parameter", "a path is required")
    return resolve_inside(_root(request), relative, what="path")


def _info(root: Path, path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": path.relative_to(root).as_posix(), "size": stat.st_size,
            "modified": int(stat.st_mtime * 1000), "created": int(stat.st_ctime * 1000)}


def _load_settings(request: web.Request) -> dict[str, Any]:
    path = _root(request) / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


@routes.get("/users")
async def users(request: web.Request) -> web.Response:
    return reply({"storage": "server", "migrated": True})


@routes.post("/users")
async def create_user(request: web.Request) -> web.Response:
    raise BadRequestError("single_user", "This server runs in single-user mode")


@routes.get("/settings")
async def get_settings(request: web.Request) -> web.Response:
    return reply(_load_settings(request))


@routes.post("/settings")
async def post_settings(request: web.Request) -> web.Response:
    merged = {**_load_settings(request), **await read_object(request)}
    _write(_root(request) / SETTINGS_FILE, json.dumps(merged, indent=2).encode())
    return web.Response(status=200)


@routes.get("/settings/{setting_id}")
async def get_setting(request: web.Request) -> web.Response:
    return reply(_load_settings(request).get(request.match_info["setting_id"]))


@routes.post("/settings/{setting_id}")
async def post_setting(request: web.Request) -> web.Response:
    merged = _load_settings(request)
    merged[request.match_info["setting_id"]] = await read_json(request)
    _write(_root(request) / SETTINGS_FILE, json.dumps(merged, indent=2).encode())
    return web.Response(status=200)


def _walk(root: Path, folder: Path, recurse: bool) -> list[Path]:
    found = []
    for dirpath, dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            try:
                resolve_inside(root, path.relative_to(root).as_posix())
            except ValueError:
                continue  # a link out of the user folder
            found.append(path)
        if not recurse:
            dirs.clear()
    return sorted(found)


@routes.get("/userdata")
async def list_userdata(request: web.Request) -> web.Response:
    root = _root(request)
    folder = _user_path(request, request.query.get("dir", ""))
    if not folder.is_dir():
        raise NotFoundError("not_found", "No such folder", request.query.get("dir", ""))
    files = _walk(root, folder, query_bool(request, "recurse"))
    if query_bool(request, "full_info"):
        return reply([{**_info(folder, p)} for p in files])
    relative = [p.relative_to(folder).as_posix() for p in files]
    if query_bool(request, "split"):
        return reply([[r, *r.split("/")] for r in relative])
    return reply(relative)


@routes.get("/v2/userdata")
async def list_userdata_v2(request: web.Request) -> web.Response:
    root = _root(request)
    relative = request.query.get("path", "")
    folder = resolve_inside(root, relative, what="path") if relative else root
    if not folder.is_dir():
        raise NotFoundError("not_found", "No such folder", relative)
    entries = []
    for child in sorted(folder.iterdir()):
        try:
            resolve_inside(root, child.relative_to(root).as_posix())
        except ValueError:
            continue
        entry: dict[str, Any] = {"name": child.name, "path": child.relative_to(root).as_posix(),
                                 "type": "directory" if child.is_dir() else "file"}
        if child.is_file():
            stat = child.stat()
            entry.update(size=stat.st_size, modified=int(stat.st_mtime * 1000))
        entries.append(entry)
    return reply(entries)


def _download_headers(path: Path) -> dict[str, str]:
    types = {".json": "application/json", ".css": "text/css"}
    return {"Content-Type": types.get(path.suffix.lower(), "application/octet-stream"),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(path.name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox"}


@routes.get("/userdata/{file}")
async def get_userdata(request: web.Request) -> web.StreamResponse:
    path = _user_path(request, request.match_info["file"])
    if not path.is_file():
        raise NotFoundError("not_found", "No such file", request.match_info["file"])
    return web.FileResponse(path, headers=_download_headers(path))


def _written(request: web.Request, path: Path) -> web.Response:
    root = _root(request)
    if query_bool(request, "full_info"):
        return reply(_info(root, path))
    return reply(path.relative_to(root).as_posix())


@routes.post("/userdata/{file}")
async def post_userdata(request: web.Request) -> web.Response:
    path = _user_path(request, request.match_info["file"])
    if path.exists() and not query_bool(request, "overwrite", True):
        raise ConflictError("file_exists", "The file exists", request.match_info["file"])
    if path.is_dir():
        raise ConflictError("is_directory", "The path is a folder", request.match_info["file"])
    data = await read_limited(request, request.app[SETTINGS].body_limit)
    await asyncio.get_running_loop().run_in_executor(None, _write, path, bytes(data))
    return _written(request, path)


@routes.delete("/userdata/{file}")
async def delete_userdata(request: web.Request) -> web.Response:
    path = _user_path(request, request.match_info["file"])
    if not path.is_file():
        raise NotFoundError("not_found", "No such file", request.match_info["file"])
    path.unlink()
    return web.Response(status=204)


@routes.post("/userdata/{file}/move/{dest}")
async def move_userdata(request: web.Request) -> web.Response:
    source = _user_path(request, request.match_info["file"])
    dest = _user_path(request, request.match_info["dest"])
    if not source.is_file():
        raise NotFoundError("not_found", "No such file", request.match_info["file"])
    if dest.exists() and not query_bool(request, "overwrite", True):
        raise ConflictError("file_exists", "The destination exists", request.match_info["dest"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, dest)
    return _written(request, dest)
