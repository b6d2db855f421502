"""``/ws``: ComfyUI's websocket. The first message is ``status`` with the session id."""

from __future__ import annotations

import json

from aiohttp import WSMsgType, web

from server.routes.info import server_features
from server.state import HUB, QUEUE, SETTINGS

routes = web.RouteTableDef()
MAX_CLIENT_MESSAGE = 64 * 1024


def _client_flags(text: str) -> dict[str, object] | None:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    data = message.get("data") if isinstance(message, dict) else None
    if isinstance(data, dict) and message.get("type") == "feature_flags":
        return {str(k): v for k, v in data.items()}
    return None


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    hub, queue = request.app[HUB], request.app[QUEUE]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_CLIENT_MESSAGE)
    await ws.prepare(request)
    sid = hub.claim_sid(request.query.get("clientId"))
    session = hub.attach(sid, ws)
    remaining = await queue.remaining()
    hub.send(sid, "status", {"status": {"exec_info": {"queue_remaining": remaining}},
                             "sid": sid})
    for running in list(queue.running_jobs.values()):
        if running.record.client_id == sid and running.messages.last_node is not None:
            hub.send(sid, "executing", {"node": running.messages.last_node})
    first_text = True
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT and first_text:
                first_text = False
                flags = _client_flags(message.data)
                if flags is not None:
                    session.flags = flags
                    hub.send(sid, "feature_flags", server_features(request.app[SETTINGS]))
    finally:
        await hub.detach(session)
    return ws
