"""Queueing work: ``/prompt`` (ComfyUI), ``/run`` (wait for the outputs), ``/workflow/convert``.

``POST /run?wait=true&timeout=S`` queues like ``/prompt`` and answers when the job ends:
200 with ``status`` (completed, failed or cancelled), outputs, timings, cache reasons and the
error. If ``timeout`` passes first it answers 202 with the job still pending or in progress.
A client that disconnects does not cancel the job: it runs on and lands in the history, where
``GET /jobs/{prompt_id}`` finds it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from executor.ui_workflow import is_ui_workflow
from executor.validate import ValidatedPrompt
from server.errors import BadRequestError
from server.job_views import api_status, number, run_answer
from server.routes.common import query_bool, read_json, read_object, reply
from server.state import BACKEND, QUEUE, REGISTRY, SETTINGS
from server.submission import Submission, convert_workflow, read_submission

routes = web.RouteTableDef()


async def _validate(request: web.Request, submission: Submission) -> ValidatedPrompt:
    backend, record = request.app[BACKEND], submission.record
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, lambda: backend.validate(record.prompt, targets=record.targets,
                                       strict=record.strict))


async def _queue(request: web.Request) -> tuple[Submission, ValidatedPrompt, float]:
    body = await read_object(request)
    strict = query_bool(request, "strict")
    submission = await asyncio.get_running_loop().run_in_executor(  # UI conversion: off-loop
        None, lambda: read_submission(body, request.app[REGISTRY], strict=strict))
    validated = await _validate(request, submission)
    submission.record.outputs_to_execute = list(validated.outputs)
    priority = await request.app[QUEUE].submit(
        submission.record, validated, number=submission.number, front=submission.front)
    return submission, validated, priority


@routes.get("/prompt")
async def get_prompt(request: web.Request) -> web.Response:
    remaining = await request.app[QUEUE].remaining()
    return reply({"exec_info": {"queue_remaining": remaining}})


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.Response:
    submission, validated, priority = await _queue(request)
    return reply({"prompt_id": submission.record.prompt_id, "number": number(priority),
                  "node_errors": validated.node_errors})


def _timeout(request: web.Request) -> float:
    limit = request.app[SETTINGS].run_timeout_s
    raw = request.query.get("timeout")
    if raw is None:
        return limit
    try:
        value = float(raw)
    except ValueError:
        raise BadRequestError("invalid_parameter", "timeout must be a number of seconds",
                              f"timeout={raw!r}") from None
    if not 0 <= value <= limit:
        raise BadRequestError("invalid_parameter", "timeout is out of range",
                              f"timeout={value}; expected 0..{limit}")
    return value


@routes.post("/run")
async def run(request: web.Request) -> web.Response:
    wait, timeout = query_bool(request, "wait", True), _timeout(request)
    submission, validated, priority = await _queue(request)
    prompt_id, queue = submission.record.prompt_id, request.app[QUEUE]
    answer: dict[str, Any] = {"prompt_id": prompt_id, "number": number(priority),
                              "node_errors": validated.node_errors}
    ended = await queue.wait(prompt_id, timeout) if wait else None
    record = await queue.get(prompt_id)
    if record is None:  # deleted from the history meanwhile
        return reply({**answer, "status": "unknown"}, status=200)
    answer["status"] = api_status(record.status)
    if ended is None:
        return reply(answer, status=202)
    return reply({**answer, **run_answer(record)})


@routes.post("/workflow/convert")
async def convert(request: web.Request) -> web.Response:
    body = await read_json(request)
    workflow = body.get("workflow", body) if isinstance(body, dict) else body
    if not is_ui_workflow(workflow):
        raise BadRequestError("invalid_workflow", "Expected a UI workflow",
                              "an object with a 'nodes' list, or {'workflow': …}")
    prompt = await asyncio.get_running_loop().run_in_executor(
        None, convert_workflow, workflow, request.app[REGISTRY])
    return reply({"prompt": prompt})
