"""ComfyUI's ``server.PromptServer`` for node packs, as a name on our ``server`` package.

``PromptServer.instance.routes`` is an aiohttp ``RouteTableDef`` packs decorate at import time;
the server mounts those routes in its application, behind its authentication and origin checks
(``latentgraph serve``), at ``/path`` and ``/api/path`` as ComfyUI does. ``send_sync(event,
data, sid)`` sends a websocket message to one client or all (dropped when no server runs,
e.g. under ``latentgraph run``). Hooks into the prompt queue (``add_on_prompt_handler``) are
accepted and never called: our queue does not hand prompts to plugins.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

logger = logging.getLogger(__name__)


class BinaryEventTypes(enum.IntEnum):
    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


class _Router:
    """``PromptServer.instance.app.router``: route additions go into the routes table."""

    def __init__(self, routes: Any) -> None:
        self._routes = routes

    def add_route(self, method: str, path: str, handler: Any, **kwargs: Any) -> None:
        self._routes.route(method, path, **kwargs)(handler)

    def add_get(self, path: str, handler: Any, **kwargs: Any) -> None:
        self.add_route("GET", path, handler, **kwargs)

    def add_post(self, path: str, handler: Any, **kwargs: Any) -> None:
        self.add_route("POST", path, handler, **kwargs)

    def add_static(self, prefix: str, path: Any, **kwargs: Any) -> None:
        self._routes.static(prefix, path, **kwargs)


class _App:
    def __init__(self, routes: Any) -> None:
        self.router = _Router(routes)

    def add_routes(self, routes: Any) -> None:
        for route in routes:
            self.router.add_route(route.method, route.path, route.handler, **route.kwargs)


class _Instance:
    def __init__(self, host: Any) -> None:
        self._host = host
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self.number = 0
        self.supports = ["custom_nodes_from_web"]
        self.prompt_queue = None
        self.loop = None

    @property
    def routes(self) -> Any:  # aiohttp is imported on first use (``latentgraph run`` stays light)
        return self._host.routes

    @property
    def app(self) -> _App:
        return _App(self._host.routes)

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        if self._host.send is None:
            logger.debug("message %r from a plugin dropped: no server runs", event)
            return
        self._host.send(event, data, sid)

    async def send(self, event: str, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    def send_progress_text(self, text: str, node_id: str, sid: str | None = None) -> None:
        self.send_sync("progress_text", {"nodeId": node_id, "text": text}, sid)

    def add_on_prompt_handler(self, handler: Any) -> None:
        logger.warning("a node pack asked to rewrite queued prompts (add_on_prompt_handler); "
                       "Latentgraph does not hand prompts to plugins")


class PromptServer:
    """``PromptServer.instance``: the running server as packs see it."""

    instance: _Instance


def exported(host: Any) -> dict[str, Any]:
    PromptServer.instance = _Instance(host)
    return {"PromptServer": PromptServer, "BinaryEventTypes": BinaryEventTypes}
