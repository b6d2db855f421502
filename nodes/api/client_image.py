"""Full-size images a node sends to the job's client over the websocket.

A node passes a ``ClientImage`` as the preview of ``ctx.progress``; the server frames it as
ComfyUI frames its previews (a binary message: 4 bytes event type 1 ``PREVIEW_IMAGE``, 4 bytes
format 2 ``PNG``, then the PNG), but unlike a sampling preview it is sent whatever preview method
the job has, never resized and never dropped by the preview rate limit — ComfyUI's
``SaveImageWebsocket``, whose frames clients read as the job's output images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClientImage:
    """``image``: a Pillow image, or its PNG bytes once encoded (in a worker process, so that
    only bytes cross the pipe to the server)."""

    image: Any

    @property
    def encoded(self) -> bytes | None:
        """The PNG bytes when the image is already encoded, else None."""
        return self.image if isinstance(self.image, bytes) else None


__all__ = ["ClientImage"]
