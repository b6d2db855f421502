"""Route modules, one per resource. Every route is served at ``/x`` and at ``/api/x``."""

from __future__ import annotations

from aiohttp import web

from server.routes import (
    files,
    frontend_data,
    info,
    jobs,
    model_library,
    prompt,
    queue,
    userdata,
    ws,
)

ROUTE_TABLES = (prompt.routes, queue.routes, jobs.routes, info.routes, files.routes,
                userdata.routes, ws.routes, model_library.routes, frontend_data.routes)


def add_routes(app: web.Application) -> None:
    for table in ROUTE_TABLES:
        for route in table:
            assert isinstance(route, web.RouteDef)
            for prefix in ("", "/api"):
                app.router.add_route(route.method, prefix + route.path, route.handler)
