"""What node packs add to the server, mounted by the composition root: their aiohttp routes
(ComfyUI's ``PromptServer.instance.routes``) and their websocket messages (``send_sync``).

Plugin-agnostic: it takes aiohttp route definitions and returns a message function. Plugin
routes sit behind the same middlewares as ours (authentication, Host and Origin checks, the
error middleware) and are served at ``/path`` and ``/api/path`` as ComfyUI does; a route that
clashes with one of ours is not mounted (ours wins, a warning names it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from server.state import HUB

logger = logging.getLogger(__name__)
MessageSink = Callable[[str, Any, "str | None"], None]


def _add(app: web.Application, method: str, path: str, handler: Any, kwargs: Any) -> bool:
    try:
        app.router.add_route(method, path, handler, **kwargs)
    except (RuntimeError, ValueError) as exc:
        logger.warning("a node pack's route %s %s is not mounted: %s", method, path, exc)
        return False
    return True


def add_plugin_routes(app: web.Application, routes: Iterable[web.AbstractRouteDef]
                      ) -> list[str]:
    """Mount the routes; returns ``"METHOD /path"`` of each one mounted."""
    mounted = []
    for route in routes:
        if isinstance(route, web.RouteDef):
            for prefix in ("", "/api"):
                if _add(app, route.method, prefix + route.path, route.handler, route.kwargs):
                    mounted.append(f"{route.method} {prefix}{route.path}")
        else:
            try:
                route.register(app.router)
                mounted.append(repr(route))
            except (RuntimeError, ValueError) as exc:
                logger.warning("a node pack's route %r is not mounted: %s", route, exc)
    return mounted


def message_sink(app: web.Application) -> MessageSink:
    """``send(event, data, sid)`` for packs: a websocket message to one client, or to all when
    ``sid`` is None; callable from any thread once the app runs (dropped before)."""
    loops: list[asyncio.AbstractEventLoop] = []

    async def remember_loop(_: web.Application) -> None:
        loops.append(asyncio.get_running_loop())

    app.on_startup.append(remember_loop)

    def send(event: str, data: Any, sid: str | None = None) -> None:
        if not loops or loops[-1].is_closed():
            logger.debug("message %r from a node pack dropped: the server is not running", event)
            return
        hub = app[HUB]
        if sid is None:
            loops[-1].call_soon_threadsafe(hub.broadcast, str(event), data)
        else:
            loops[-1].call_soon_threadsafe(hub.send, str(sid), str(event), data)

    return send
