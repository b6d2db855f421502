"""Websocket sessions: who is connected under which client id, and ordered, non-blocking sends.

Each session has a bounded outgoing queue drained by its own task, so publishing never awaits
and messages keep their order. A client that falls ``ws_queue_limit`` messages behind is
disconnected (it reconnects and gets a fresh ``status``).

Session ids: a client may ask for its old id back (a reloading browser does); it gets it only
if no live socket holds it, otherwise it gets a fresh id. Nobody can take over a live session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import struct
import uuid
from typing import Any

from aiohttp import web

from server.json_text import to_json
from server.messages import Outbound, Preview

logger = logging.getLogger(__name__)

_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA = 1, 4
_FORMAT_CODES = {"image/jpeg": 1, "image/png": 2}


def frame_preview(preview: Preview, prompt_id: str, with_metadata: bool) -> bytes:
    """A binary preview frame: type 4 (JSON metadata) or the legacy type 1."""
    if with_metadata:
        meta = json.dumps({
            "node_id": preview.node_id, "prompt_id": prompt_id,
            "display_node_id": preview.node_id, "parent_node_id": None,
            "real_node_id": preview.node_id, "image_type": preview.image_type,
        }).encode()
        return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + preview.data
    code = _FORMAT_CODES.get(preview.image_type, 1)
    return struct.pack(">II", PREVIEW_IMAGE, code) + preview.data


class Session:
    """One connected websocket."""

    def __init__(self, sid: str, ws: web.WebSocketResponse, limit: int) -> None:
        self.sid = sid
        self.ws = ws
        self.flags: dict[str, Any] = {}
        self._queue: asyncio.Queue[str | bytes | None] = asyncio.Queue(limit)
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def put(self, item: str | bytes) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            logger.warning("websocket %s is too slow; disconnecting it", self.sid)
            self._task.cancel()
            asyncio.get_running_loop().create_task(self.ws.close(code=1013))

    async def _pump(self) -> None:
        while (item := await self._queue.get()) is not None:
            try:
                if isinstance(item, str):
                    await self.ws.send_str(item)
                else:
                    await self.ws.send_bytes(item)
            except (ConnectionError, RuntimeError) as exc:
                logger.debug("websocket %s send failed: %s", self.sid, exc)
                return

    async def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), 5)
        self._task.cancel()


class WebSocketHub:
    """All sessions, by client id."""

    def __init__(self, server_flags: dict[str, Any], queue_limit: int = 10_000) -> None:
        self.server_flags = server_flags
        self.queue_limit = queue_limit
        self.sessions: dict[str, Session] = {}

    def claim_sid(self, requested: str | None) -> str:
        """The requested id if it is well formed and free, else a fresh one."""
        holder = self.sessions.get(requested) if requested else None
        if requested and _SID.match(requested) and (holder is None or holder.ws.closed):
            return requested
        return uuid.uuid4().hex

    def attach(self, sid: str, ws: web.WebSocketResponse) -> Session:
        session = Session(sid, ws, self.queue_limit)
        self.sessions[sid] = session
        return session

    async def detach(self, session: Session) -> None:
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]
        await session.close()

    def send(self, sid: str | None, kind: str, data: dict[str, Any]) -> None:
        session = self.sessions.get(sid) if sid else None
        if session is not None:
            session.put(to_json({"type": kind, "data": data}))

    def broadcast(self, kind: str, data: dict[str, Any]) -> None:
        text = to_json({"type": kind, "data": data})
        for session in list(self.sessions.values()):
            session.put(text)

    def publish(self, client_id: str | None, message: Outbound) -> None:
        if message.preview is not None:
            self._preview(client_id, message.preview, message.data["prompt_id"])
        elif message.to_all:
            self.broadcast(message.type, message.data)
        else:
            self.send(client_id, message.type, message.data)

    def _preview(self, client_id: str | None, preview: Preview, prompt_id: str) -> None:
        targets = ([self.sessions[client_id]] if client_id in self.sessions else []) \
            if client_id else list(self.sessions.values())
        for session in targets:
            with_meta = bool(session.flags.get("supports_preview_metadata"))
            session.put(frame_preview(preview, prompt_id, with_meta))

    async def close_all(self) -> None:
        for session in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await session.ws.close(code=1001, message=b"server shutting down")
            await self.detach(session)
