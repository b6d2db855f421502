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

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from nodes.api.paths import parse_annotated
from server.errors import BadRequestError, NotFoundError, PayloadTooLargeError
from server.folders import inside
from server.images import apply_mask, open_image, store_file, transform_for_view, upload_name
from server.routes.common import reply
from server.state import SETTINGS

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


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(1 << 16):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLargeError("upload_too_large", "The upload is too large",
                                       f"more than {limit} bytes")
    return bytes(data)


async def _form(request: web.Request) -> tuple[dict[str, str], tuple[str | None, bytes] | None]:
    """Text fields and the one ``image`` part of a multipart upload, size-limited."""
    limit = request.app[SETTINGS].max_upload_bytes
    if (request.content_length or 0) > limit + 65536:
        raise PayloadTooLargeError("upload_too_large", "The upload is too large",
                                   f"{request.content_length} > {limit} bytes")
    if not request.content_type.startswith("multipart/"):
        raise BadRequestError("invalid_body", "Expected a multipart/form-data upload",
                              request.content_type)
    try:
        return await _parts(request, limit)
    except (HttpProcessingError, ValueError, AssertionError) as exc:
        raise BadRequestError("invalid_body", "Malformed multipart body",
                              str(exc)[:200]) from None


async def _parts(request: web.Request, limit: int
                 ) -> tuple[dict[str, str], tuple[str | None, bytes] | None]:
    fields: dict[str, str] = {}
    image: tuple[str | None, bytes] | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise BadRequestError("invalid_body", "Nested multipart is not supported")
        data = await _read_part(part, limit)
        if part.name == "image":
            image = (part.filename, data)
        elif part.name and len(fields) < 32:
            fields[part.name] = data.decode("utf-8", "replace")[:4096]
    return fields, image


def _store_image(settings: Any, fields: dict[str, str], name: str | None, data: bytes,
                 mask_of: Path | None) -> dict[str, str]:
    image = open_image(data, settings.max_image_pixels)
    kind = _file_type(fields.get("type") or "input")
    subfolder = fields.get("subfolder", "")
    overwrite = fields.get("overwrite", "").lower() in ("true", "1") and kind != "output"
    if mask_of is not None:
        original = open_image(mask_of.read_bytes(), settings.max_image_pixels)
        data, stored_format = apply_mask(original, image), "PNG"
    else:
        stored_format = str(image.format)
    final = store_file(settings.folder(kind), subfolder, upload_name(name, stored_format),
                       data, overwrite)
    return {"name": final, "subfolder": subfolder, "type": kind}


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    fields, image = await _form(request)
    if image is None:
        raise BadRequestError("invalid_body", "The upload has no 'image' part")
    loop = asyncio.get_running_loop()
    return reply(await loop.run_in_executor(
        None, _store_image, request.app[SETTINGS], fields, image[0], image[1], None))


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
    settings = request.app[SETTINGS]
    fields, image = await _form(request)
    if image is None:
        raise BadRequestError("invalid_body", "The upload has no 'image' part")
    original = _original_path(settings, fields.get("original_ref"))
    loop = asyncio.get_running_loop()
    return reply(await loop.run_in_executor(
        None, _store_image, settings, fields, image[0], image[1], original))
