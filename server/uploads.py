"""Multipart uploads streamed to disk: the ``image`` part is spooled to a file in chunks.

At most one chunk (1 MiB) of an upload is held in memory; the spool file lives in
``<base>/.uploads`` (not served by ``/view``) and is removed when the request ends, or at the
next start after a crash. The whole request is refused (413 ``upload_too_large``) as soon as
it passes ``max_upload_bytes``; text fields are short (at most 64 KiB read, 4 Ki characters
kept, 32 fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from server.errors import BadRequestError, PayloadTooLargeError

SPOOL_DIR = ".uploads"
CHUNK = 1 << 20
FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32


@dataclass
class UploadForm:
    """The text fields of an upload and its spooled ``image`` part (if any)."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def clear_spool(base_dir: Path) -> None:
    """Remove spool files a crash left behind (start-up)."""
    folder = base_dir / SPOOL_DIR
    if folder.is_dir():
        for leftover in folder.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError("upload_too_large", "The upload is too large",
                                f"more than {limit} bytes", {"limit_bytes": limit})


class _Budget:
    """The image may have ``limit`` bytes, the whole request 64 KiB more."""

    def __init__(self, limit: int) -> None:
        self.limit, self.left = limit, limit + 65536

    def take(self, size: int, so_far: int = 0) -> None:
        self.left -= size
        if self.left < 0 or so_far > self.limit:
            raise _too_large(self.limit)


async def _read_field(part: BodyPartReader, budget: _Budget) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(1 << 16):
        budget.take(len(chunk))
        data += chunk
        if len(data) > FIELD_BYTES:
            raise BadRequestError("invalid_body", "A form field is too long",
                                  f"{part.name!r}: more than {FIELD_BYTES} bytes")
    return data.decode("utf-8", "replace")[:4096]


async def _spool(part: BodyPartReader, budget: _Budget, folder: Path) -> Path:
    loop = asyncio.get_running_loop()
    folder.mkdir(exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix="part-")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            await _copy(part, budget, out, loop)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def _copy(part: BodyPartReader, budget: _Budget, out: BinaryIO,
                loop: asyncio.AbstractEventLoop) -> None:
    pending, written = bytearray(), 0
    while chunk := await part.read_chunk(1 << 16):
        written += len(chunk)
        budget.take(len(chunk), written)
        pending += chunk
        if len(pending) >= CHUNK:
            await loop.run_in_executor(None, out.write, bytes(pending))
            pending.clear()
    if pending:
        await loop.run_in_executor(None, out.write, bytes(pending))


async def _parts(request: web.Request, form: UploadForm, budget: _Budget, spool: Path) -> None:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise BadRequestError("invalid_body", "Nested multipart is not supported")
        if part.name == "image":
            form.discard()  # a second image part replaces the first
            form.filename = part.filename
            form.path = await _spool(part, budget, spool)
        elif part.name and len(form.fields) < MAX_FIELDS:
            form.fields[part.name] = await _read_field(part, budget)
        else:  # ignored, but counted
            while chunk := await part.read_chunk(1 << 16):
                budget.take(len(chunk))


async def read_upload(request: web.Request, limit: int, base_dir: Path) -> UploadForm:
    """Text fields and the spooled ``image`` part; the caller ``discard()``s the form."""
    if (request.content_length or 0) > limit + 65536:
        raise _too_large(limit)
    if not request.content_type.startswith("multipart/"):
        raise BadRequestError("invalid_body", "Expected a multipart/form-data upload",
                              request.content_type)
    form = UploadForm()
    try:
        await _parts(request, form, _Budget(limit), base_dir / SPOOL_DIR)
    except (HttpProcessingError, ValueError, AssertionError) as exc:
        form.discard()
        raise BadRequestError("invalid_body", "Malformed multipart body",
                              str(exc)[:200]) from None
    except BaseException:
        form.discard()
        raise
    return form
