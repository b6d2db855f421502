"""``/view`` and the image uploads. Every path goes through ``nodes.api.paths``.

Files are served with ``nosniff`` and a sandboxing CSP; only image, video and audio types are
shown inline, everything else (html, svg, js, …) is sent as an ``application/octet-stream``
download.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from nodes.api.paths import parse_annotated
from server.errors import BadRequestError, NotFoundError
from server.folders import inside
from server.images import apply_mask, open_image, store_file, transform_for_view, upload_name
from server.routes.common import reply
from server.state import SETTINGS
from server.uploads import UploadForm, read_upload

routes = web.RouteTableDef()

FILE_TYPES = ("input", "output", "temp")
INLINE_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".gif": "image/gif", ".bmp": "image/bmp", ".mp4": "video/mp4", ".webm": "video/webm",
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".ogg": "audio/ogg", ".flac": "audio/flac",
}


def file_headers(name: str, content_type: str | None) -> dict[str, str]:
    """Headers for serving a stored file: inline only for media types."""
    disposition = "inline" if content_type else "attachment"
    return {
        "Content-Type": content_type or "application/octet-stream",
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }


def _file_type(raw: str | None) -> str:
    kind = raw or "output"
    if kind not in FILE_TYPES:
        raise BadRequestError("invalid_type", "Unknown file type", f"{kind!r}; choose from "
                              f"{list(FILE_TYPES)}")
    return kind


def _annotated(filename: str, kind: str | None) -> tuple[str, str | None]:
    parsed = parse_annotated(filename)
    return parsed.name, parsed.folder_type or kind


@routes.get("/view")
async def view(request: web.Request) -> web.StreamResponse:
    settings, query = request.app[SETTINGS], request.query
    raw_name = query.get("filename")
    if not raw_name:
        raise BadRequestError("invalid_parameter", "filename is required")
    filename, kind = _annotated(raw_name, query.get("type"))
    root = settings.folder(_file_type(kind))
    path = inside(root, query.get("subfolder", ""), filename)
    if not path.is_file():
        raise NotFoundError("not_found", "No such file", filename)
    channel, preview = query.get("channel", "rgba"), query.get("preview")
    if channel not in ("rgba", "rgb", "a"):
        raise BadRequestError("invalid_parameter", "channel must be rgba, rgb or a", channel)
    if channel == "rgba" and not preview:
        headers = file_headers(path.name, INLINE_TYPES.get(path.suffix.lower()))
        return web.FileResponse(path, headers=headers)
    loop = asyncio.get_running_loop()
    data, content_type = await loop.run_in_executor(
        None, transform_for_view, path, channel, preview, settings.max_image_pixels)
    return web.Response(body=data, headers=file_headers(path.name, content_type))


def _store_image(settings: Any, form: UploadForm, mask_of: Path | None) -> dict[str, str]:
    fields = form.fields
    if form.path is None:
        raise BadRequestError("invalid_body", "The upload has no 'image' part")
    image = open_image(form.path, settings.max_image_pixels)
    kind = _file_type(fields.get("type") or "input")
    subfolder = fields.get("subfolder", "")
    overwrite = fields.get("overwrite", "").lower() in ("true", "1") and kind != "output"
    data: bytes | Path = form.path
    if mask_of is not None:
        original = open_image(mask_of, settings.max_image_pixels)
        data, stored_format = apply_mask(original, image), "PNG"
    else:
        stored_format = str(image.format)
    final = store_file(settings.folder(kind), subfolder,
                       upload_name(form.filename, stored_format), data, overwrite)
    return {"name": final, "subfolder": subfolder, "type": kind}


async def _upload(request: web.Request, mask: bool) -> web.Response:
    settings = request.app[SETTINGS]
    form = await read_upload(request, settings.max_upload_bytes, settings.base_dir)
    try:
        original = _original_path(settings, form.fields.get("original_ref")) if mask else None
        loop = asyncio.get_running_loop()
        return reply(await loop.run_in_executor(None, _store_image, settings, form, original))
    finally:
        form.discard()


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    return await _upload(request, mask=False)


def _original_path(settings: Any, raw: str | None) -> Path:
    try:
        ref = json.loads(raw or "")
    except ValueError:
        raise BadRequestError("invalid_body", "original_ref must be JSON") from None
    if not isinstance(ref, dict) or not isinstance(ref.get("filename"), str):
        raise BadRequestError("invalid_body", "original_ref needs a filename")
    root = settings.folder(_file_type(ref.get("type") or "input"))
    subfolder = ref.get("subfolder") or ""
    if not isinstance(subfolder, str):
        raise BadRequestError("invalid_body", "original_ref.subfolder must be a string")
    path = inside(root, subfolder, ref["filename"])
    if not path.is_file():
        raise NotFoundError("not_found", "The original image does not exist", ref["filename"])
    return path


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    return await _upload(request, mask=True)
