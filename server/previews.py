"""Preview images from progress reports: rate-limited and encoded in the job's worker thread.

Model code makes the preview (a cheap latent→RGB projection); the server only shrinks, encodes
and frames it. Accepted forms: ``("JPEG"|"PNG", bytes)`` already encoded, ComfyUI's
``("JPEG"|"PNG", PIL image, max_size)``, or a bare PIL image.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import replace
from typing import Any

from executor.events import NodeProgress
from server.messages import Preview

logger = logging.getLogger(__name__)
_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


def _encode_image(image: Any, fmt: str, max_size: int) -> bytes:
    image = image.copy()
    image.thumbnail((max_size, max_size))
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def encode_preview(node_id: str, preview: Any, max_size: int = 512) -> Preview | None:
    """A framed-ready preview, or ``None`` for a form we do not know (logged)."""
    fmt, payload = "JPEG", preview
    if isinstance(preview, tuple) and len(preview) >= 2:
        fmt, payload = str(preview[0]).upper(), preview[1]
        if len(preview) >= 3 and isinstance(preview[2], int):
            max_size = preview[2]
    if fmt not in _TYPES:
        logger.debug("preview format %r is not JPEG or PNG; dropped", fmt)
        return None
    if isinstance(payload, (bytes, bytearray)):
        return Preview(node_id, _TYPES[fmt], bytes(payload))
    if hasattr(payload, "thumbnail") and hasattr(payload, "save"):
        return Preview(node_id, _TYPES[fmt], _encode_image(payload, fmt, max_size))
    logger.debug("preview of type %s is not an image; dropped", type(payload).__name__)
    return None


class PreviewLimiter:
    """Keeps at most one preview per ``interval`` seconds per job; encodes the ones kept."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, event: NodeProgress) -> NodeProgress:
        if event.preview is None:
            return event
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval:
                return replace(event, preview=None)
            self._last = now
        try:
            return replace(event, preview=encode_preview(event.node_id, event.preview))
        except Exception:  # a broken preview must not fail the job
            logger.exception("encoding a preview of node %s failed", event.node_id)
            return replace(event, preview=None)
