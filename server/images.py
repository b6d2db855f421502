"""Images from requests: decoded with Pillow before anything is stored or transformed.

A file that Pillow cannot decode as PNG, JPEG, WebP or GIF is refused (HTML posing as a PNG
included); an image above ``max_pixels`` is refused before it is decoded (decompression bombs).
Upload names are checked, never silently rewritten, except that the extension follows the
decoded format.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from nodes.api.paths import check_relative
from server.errors import BadRequestError, PayloadTooLargeError
from server.folders import inside

FORMATS = {"PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "WEBP": (".webp",), "GIF": (".gif",)}
_NAME = re.compile(r"^[\w\-. ()\[\],+@=]{1,200}$")
_MAX_COPIES = 10_000


def open_image(source: bytes | Path, max_pixels: int) -> Image.Image:
    """A fully decoded image (from bytes or a file), or a 4xx error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            if image.format not in FORMATS:
                raise BadRequestError("unsupported_image", "Unsupported image format",
                                      f"{image.format}; send PNG, JPEG, WebP or GIF")
            if image.width * image.height > max_pixels:
                raise PayloadTooLargeError("image_too_large", "The image has too many pixels",
                                           f"{image.width}x{image.height} > {max_pixels}")
            image.load()
            return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLargeError("image_too_large", "The image has too many pixels",
                                   str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadRequestError("invalid_image", "The file is not a readable image",
                              str(exc)[:200]) from None


def upload_name(name: str | None, image_format: str) -> str:
    """The stored name: checked, with the extension of the decoded format."""
    if not name:
        raise BadRequestError("invalid_filename", "The upload has no file name")
    check_relative(name, what="filename")
    if "/" in name or name.startswith(".") or not _NAME.match(name):
        raise BadRequestError("invalid_filename", "The file name is not allowed",
                              f"{name!r}: letters, digits, spaces and ._-()[],+@= only")
    stem, dot, suffix = name.rpartition(".")
    allowed = FORMATS[image_format]
    if not dot or not stem:
        return f"{name}{allowed[0]}"
    return name if f".{suffix.lower()}" in allowed else f"{stem}{allowed[0]}"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _write_atomic(folder: Path, name: str, data: bytes | Path) -> None:
    """``data`` (bytes, or a spooled file, copied) becomes ``folder/name`` in one rename."""
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            if isinstance(data, bytes):
                out.write(data)
            else:
                with data.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
        os.replace(temp, folder / name)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def store_file(root: Path, subfolder: str, name: str, data: bytes | Path,
               overwrite: bool) -> str:
    """Write ``data`` (bytes or a spooled file) under ``root/subfolder``; returns the final
    name.

    Without ``overwrite`` an identical existing file is reused and a different one gets
    ``name (1).ext``, ``name (2).ext`` …
    """
    folder = inside(root, subfolder)
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else _digest(data)
    candidate = name
    for copy in range(1, _MAX_COPIES):
        target = inside(root, subfolder, candidate)
        if overwrite or not target.exists():
            _write_atomic(folder, candidate, data)
            return candidate
        if target.is_file() and _digest(target) == digest:
            return candidate
        candidate = f"{stem} ({copy}){dot}{suffix}"
    raise BadRequestError("too_many_copies", "Too many files with this name", name)


def apply_mask(original: Image.Image, mask: Image.Image) -> bytes:
    """The original with the mask's alpha, as PNG, keeping the original's text chunks."""
    info = PngImagePlugin.PngInfo()
    for key, value in (original.info or {}).items():
        if isinstance(key, str) and isinstance(value, str):
            info.add_text(key, value)
    result = original.convert("RGBA")
    alpha = mask.convert("RGBA").getchannel("A").resize(result.size)
    result.putalpha(alpha)
    buffer = io.BytesIO()
    result.save(buffer, format="PNG", pnginfo=info, compress_level=4)
    return buffer.getvalue()


def transform_for_view(path: Path, channel: str, preview: str | None, max_pixels: int
                       ) -> tuple[bytes, str]:
    """ComfyUI's ``channel`` and ``preview`` options: (bytes, content type)."""
    image = open_image(path, max_pixels)
    if channel == "rgb":
        image = image.convert("RGB")
    elif channel == "a":
        alpha = image.convert("RGBA").getchannel("A")
        image = Image.new("RGBA", image.size)
        image.putalpha(alpha)
    fmt, quality = "png", 90
    if preview:
        name, _, level = preview.partition(";")
        fmt = name if name in ("webp", "jpeg") else "webp"
        if "a" in channel and fmt == "jpeg":
            fmt = "webp"
        quality = int(level) if level.isdigit() and 1 <= int(level) <= 100 else 90
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    elif fmt == "webp":
        image.save(buffer, format="WEBP", quality=quality)
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), f"image/{fmt}"
