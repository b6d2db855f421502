"""A pack registering aiohttp routes on PromptServer.instance.routes at import time."""
from aiohttp import web

from server import PromptServer

CALLS = []


@PromptServer.instance.routes.get("/routes_pack/hello")
async def hello(request):
    return web.json_response({"hello": request.query.get("name", "world")})


@PromptServer.instance.routes.post("/routes_pack/echo")
async def echo(request):
    data = await request.json()
    CALLS.append(data)
    PromptServer.instance.send_sync("routes_pack.echoed", data)
    return web.json_response({"echo": data})


NODE_CLASS_MAPPINGS = {}
