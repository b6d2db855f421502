"""``GET /internal/files/{output|input|temp}``: the files (not folders) directly in that folder,
newest modification first, as ComfyUI's internal route the frontend's file pickers use. Another
directory type is a 400 naming it; a folder not created yet lists nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from server.errors import BadRequestError
from server.routes.common import reply
from server.state import SETTINGS

routes = web.RouteTableDef()
DIRECTORY_TYPES = ("output", "input", "temp")


def newest_first(folder: Path) -> list[str]:
    """Names of the regular files in ``folder`` (symlinks to files included), newest first."""
    entries: list[tuple[float, str]] = []
    try:
        with os.scandir(folder) as scan:
            for entry in scan:
                try:
                    if entry.is_file():
                        entries.append((entry.stat().st_mtime, entry.name))
                except FileNotFoundError:  # removed while listing
                    continue
    except FileNotFoundError:
        return []
    return [name for _, name in sorted(entries, key=lambda pair: -pair[0])]


@routes.get("/internal/files/{directory_type}")
async def list_files(request: web.Request) -> web.Response:
    kind = request.match_info["directory_type"]
    if kind not in DIRECTORY_TYPES:
        raise BadRequestError("invalid_directory_type", "Invalid directory type",
                              f"directory_type {kind!r} is not one of {', '.join(DIRECTORY_TYPES)}")
    folder = request.app[SETTINGS].folder(kind)
    names = await asyncio.get_running_loop().run_in_executor(None, newest_first, folder)
    return reply(names)
