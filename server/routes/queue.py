"""ComfyUI's queue, interrupt, free and history routes."""

from __future__ import annotations

from aiohttp import web

from executor.jobs import JobStatus
from server.errors import BadRequestError
from server.job_views import history_entry, queue_item
from server.routes.common import empty_ok, id_list, query_int, read_object, reply
from server.state import QUEUE, WORKER

routes = web.RouteTableDef()


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    running, pending = await request.app[QUEUE].snapshot()
    return reply({"queue_running": [queue_item(r) for r in running],
                  "queue_pending": [queue_item(r) for r in pending]})


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    body = await read_object(request)
    queue = request.app[QUEUE]
    delete = id_list(body, "delete")
    if body.get("clear") is True:
        await queue.delete_pending(None)
    if delete:
        await queue.delete_pending(delete)
    return empty_ok()


@routes.post("/interrupt")
async def interrupt(request: web.Request) -> web.Response:
    body = await read_object(request, empty=True)
    prompt_id = body.get("prompt_id")
    if prompt_id is not None and not isinstance(prompt_id, str):
        raise BadRequestError("invalid_body", "prompt_id must be a string")
    request.app[QUEUE].interrupt(prompt_id)
    return empty_ok()


@routes.post("/free")
async def free(request: web.Request) -> web.Response:
    body = await read_object(request, empty=True)
    worker = request.app[WORKER]
    for flag in ("unload_models", "free_memory"):
        if body.get(flag) is True:
            worker.free_flags[flag] = True
    if request.app[QUEUE].running is None:
        worker.apply_free()
    return empty_ok()


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    max_items = query_int(request, "max_items", minimum=0)
    offset = query_int(request, "offset", minimum=0)
    records = await request.app[QUEUE].history(max_items, offset)
    return reply({r.prompt_id: history_entry(r) for r in records})


@routes.get("/history/{prompt_id}")
async def get_history_entry(request: web.Request) -> web.Response:
    """ComfyUI's answer for a job not finished yet (or unknown) is ``{}`` with 200."""
    record = await request.app[QUEUE].get(request.match_info["prompt_id"])
    if record is None or record.result is None or record.status is JobStatus.CANCELLED:
        return reply({})
    return reply({record.prompt_id: history_entry(record)})


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    body = await read_object(request)
    queue = request.app[QUEUE]
    delete = id_list(body, "delete")
    if body.get("clear") is True:
        await queue.delete_history(None)
    if delete:
        await queue.delete_history(delete)
    return empty_ok()
