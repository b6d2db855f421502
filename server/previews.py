"""Preview images from progress reports: whether a job gets any, rate-limited, encoded in the
job's worker thread.

Whether: as ComfyUI, none unless the server runs with ``--preview-method auto|latent2rgb|taesd``
or the prompt's ``extra_data.preview_method`` asks for one (``"none"`` turns them off for that
prompt; ``"default"``, absent or unknown values leave the server's method). We have no TAESD
decoder: ``taesd`` and ``auto`` both mean latent→RGB (ComfyUI's ``auto`` is latent2rgb too).
Unlike ComfyUI, which only gates its sampler previewer, the method gates every preview a node
reports, so a client that did not ask never gets binary frames.

Model code makes the preview (a cheap latent→RGB projection); the server sizes, encodes and
frames it. Accepted forms: ``("JPEG"|"PNG", bytes)`` already encoded, ComfyUI's
``("JPEG"|"PNG", PIL image, max_size)``, or a bare PIL image. An image is fitted into
``max_size`` (512 by default, ComfyUI's ``--preview-size``) keeping its aspect ratio, upscaled
when smaller, bilinear, as ComfyUI's ``ImageOps.contain``: a 64×64 latent projection is shown at
512×512, not 64×64.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image, ImageOps

from executor.events import NodeProgress
from server.messages import Preview

logger = logging.getLogger(__name__)
_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")
MAX_PREVIEW_SIZE = 512  # ComfyUI's --preview-size default (MAX_PREVIEW_RESOLUTION)


def effective_method(method: str) -> str:
    """What we run for a preview method: ``none`` or ``latent2rgb`` (no TAESD decoder here)."""
    if method not in PREVIEW_METHODS:
        raise ValueError(f"unknown preview method {method!r}; choose one of {PREVIEW_METHODS}")
    return "none" if method == "none" else "latent2rgb"


def job_method(server_method: str, extra_data: Mapping[str, Any]) -> str:
    """The preview method of one prompt: its ``extra_data.preview_method`` when that names a
    method, else the server's (ComfyUI's ``set_preview_method``)."""
    asked = extra_data.get("preview_method")
    chosen = asked if isinstance(asked, str) and asked in PREVIEW_METHODS else server_method
    return effective_method(chosen)


@dataclass(frozen=True)
class PreviewSettings:
    """The server's preview method and the least time between two previews of a job."""

    method: str = "none"
    interval: float = 0.1

    def __post_init__(self) -> None:
        effective_method(self.method)  # refuses an unknown method

    def limiter(self, extra_data: Mapping[str, Any]) -> PreviewLimiter:
        """The preview filter of one job."""
        return PreviewLimiter(self.interval,
                              enabled=job_method(self.method, extra_data) != "none")


def fit_preview(image: Image.Image, max_size: int) -> Image.Image:
    """``image`` fitted into ``max_size`` × ``max_size`` (up or down), aspect kept."""
    return ImageOps.contain(image, (max_size, max_size), Image.Resampling.BILINEAR)


def _encode_image(image: Any, fmt: str, max_size: int) -> bytes:
    image = fit_preview(image, max_size)
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def encode_preview(node_id: str, preview: Any, max_size: int = MAX_PREVIEW_SIZE
                   ) -> Preview | None:
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
    """Keeps at most one preview per ``interval`` seconds per job (none when not ``enabled``);
    encodes the ones kept."""

    def __init__(self, interval: float, *, enabled: bool = True) -> None:
        self.interval = interval
        self.enabled = enabled
        self._last = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, event: NodeProgress) -> NodeProgress:
        if event.preview is None:
            return event
        if not self.enabled:
            return replace(event, preview=None)
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
