"""A pack registering aiohttp routes on PromptServer.instance.routes at import time, and a node
sending a websocket message while it runs (send_sync with its UNIQUE_ID)."""
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


class Announce:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "hi"})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "announce"
    CATEGORY = "tests/routes"

    def announce(self, text, unique_id):
        PromptServer.instance.send_sync("routes_pack.announced",
                                        {"node": unique_id, "text": text})
        return {"ui": {"text": [text]}}


NODE_CLASS_MAPPINGS = {"Announce": Announce}
