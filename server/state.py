"""Typed application and request state keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from executor.backend import ExecutionBackend
from nodes.api import Registry
from server.json_parser import JsonParser
from server.redact import PathRedactor
from server.settings import ServerSettings

if TYPE_CHECKING:
    from server.job_queue import JobQueue
    from server.worker import Worker
    from server.ws_hub import WebSocketHub


@dataclass
class Instance:
    """Who this server is: a durable instance id and the start count (epoch)."""

    instance_id: str = ""
    epoch: int = 0
    started_ms: int = 0
    stranded: list[str] = field(default_factory=list)


SETTINGS = web.AppKey("settings", ServerSettings)
BACKEND: web.AppKey[ExecutionBackend] = web.AppKey("backend")
REGISTRY = web.AppKey("registry", Registry)
QUEUE: web.AppKey[JobQueue] = web.AppKey("queue")
HUB: web.AppKey[WebSocketHub] = web.AppKey("hub")
WORKER: web.AppKey[Worker] = web.AppKey("worker")
INSTANCE = web.AppKey("instance", Instance)
REDACTOR = web.AppKey("redactor", PathRedactor)
PARSER = web.AppKey("parser", JsonParser)
REQUEST_ID = "latentgraph.request_id"
