"""Data routes the official ComfyUI frontend reads at start-up, answered as ComfyUI answers them
when there is nothing to offer: ``/i18n`` (custom nodes' translations) ``{}``,
``/workflow_templates`` (custom nodes' example workflows) ``{}``, ``/global_subgraphs`` ``{}``.

``/templates/{name}`` (a page path, not under ``/api``) serves the installed workflow-template
packages (``server.templates``); without them the index is empty (``index.json`` and its
localised ``index.<locale>.json`` are ``[]``, ``index_logo.json`` and ``fuse_options.json``
``{}``) and any other name is a 404.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from nodes.api.paths import PathRefusedError, resolve_inside
from server.errors import NotFoundError
from server.routes.common import reply
from server.routes.editor import CONTENT_TYPES
from server.state import SETTINGS

routes = web.RouteTableDef()

EMPTY_INDEXES: dict[str, dict[str, object]] = {"index_logo.json": {}, "fuse_options.json": {}}
_LIST_INDEX = re.compile(r"^index(\.[A-Za-z-]{2,10})?\.json$")
TEMPLATE_TYPES = {**CONTENT_TYPES, ".webp": "image/webp", ".jpg": "image/jpeg",
                  ".jpeg": "image/jpeg", ".mp4": "video/mp4", ".webm": "video/webm",
                  ".gif": "image/gif", ".mp3": "audio/mpeg", ".flac": "audio/flac",
                  ".wav": "audio/wav", ".glb": "model/gltf-binary"}


@routes.get("/i18n")
async def i18n(request: web.Request) -> web.Response:
    return reply({})


@routes.get("/workflow_templates")
async def workflow_templates(request: web.Request) -> web.Response:
    return reply({})


@routes.get("/global_subgraphs")
async def global_subgraphs(request: web.Request) -> web.Response:
    return reply({})


@routes.get("/global_subgraphs/{subgraph_id}")
async def global_subgraph(request: web.Request) -> web.Response:
    raise NotFoundError("not_found", "No such subgraph", request.match_info["subgraph_id"])


def template_file(folders: tuple[Path, ...], name: str) -> Path | None:
    """The first file called ``name`` in ``folders`` (contained, links resolved), or None."""
    for folder in folders:
        try:
            path = resolve_inside(folder, name, what="template")
        except PathRefusedError:
            return None
        if path.is_file():
            return path
    return None


async def template(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = template_file(request.app[SETTINGS].template_folders, name)
    suffix = Path(name).suffix.lower()
    if path is not None and suffix in TEMPLATE_TYPES:
        return web.FileResponse(path, headers={"Content-Type": TEMPLATE_TYPES[suffix],
                                               "X-Content-Type-Options": "nosniff"})
    if path is None and name in EMPTY_INDEXES:
        return reply(EMPTY_INDEXES[name])
    if path is None and _LIST_INDEX.match(name):
        return reply([])
    raise NotFoundError("not_found", "No such template file", name)


def add_template_routes(app: web.Application) -> None:
    """``/templates/{name}``: a page path like ComfyUI's, so not doubled under ``/api``."""
    app.router.add_get("/templates/{name:.+}", template)
