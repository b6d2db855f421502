"""The application factory: ``create_app(backend, registry, settings)``.

The UI at ``/`` is our editor, or the official ComfyUI frontend when ``settings.frontend_root``
names its folder (``server.comfy_site``).

Middlewares (outermost first): ``error_middleware`` (the one place errors become HTTP), then the
security checks. The worker task, the job store and the websocket sessions live in
``cleanup_ctx``: they start with the app and stop gracefully with it (SIGTERM included, via
``web.run_app``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from executor.backend import ExecutionBackend
from nodes.api import Registry
from server.comfy_site import add_comfy_site, seed_user_folder
from server.job_queue import JobQueue
from server.middleware import error_middleware
from server.previews import PreviewSettings
from server.redact import PathRedactor
from server.routes import add_routes
from server.routes.editor import add_web_routes
from server.routes.frontend_data import add_template_routes
from server.routes.info import server_features
from server.security import check_bind, security_middleware
from server.settings import ServerSettings
from server.state import (
    BACKEND,
    HUB,
    INSTANCE,
    QUEUE,
    REDACTOR,
    REGISTRY,
    SETTINGS,
    WORKER,
    Instance,
)
from server.store_integrity import open_store
from server.uploads import clear_spool
from server.worker import Worker
from server.ws_hub import WebSocketHub

logger = logging.getLogger(__name__)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings, queue, worker = app[SETTINGS], app[QUEUE], app[WORKER]
    instance = app[INSTANCE]
    clear_spool(settings.base_dir)
    instance.instance_id, instance.epoch, instance.stranded = await queue.boot(
        settings.on_crash)
    instance.started_ms = int(time.time() * 1000)
    task = asyncio.get_running_loop().create_task(worker.run(), name="latentgraph-worker")
    logger.info("server instance %s epoch %d ready", instance.instance_id, instance.epoch)
    yield
    await worker.stop(task, settings.shutdown_grace_s)
    await app[HUB].close_all()
    await asyncio.get_running_loop().run_in_executor(None, queue.close)
    logger.info("server stopped")


def create_app(backend: ExecutionBackend, registry: Registry, settings: ServerSettings
               ) -> web.Application:
    """A ready-to-run application; refuses an insecure bind (``InsecureBindError``) and a
    damaged job database (``server.store_integrity.DamagedStoreError``, naming the fix)."""
    check_bind(settings)
    app = web.Application(
        middlewares=[error_middleware, security_middleware(settings)],
        client_max_size=settings.max_upload_bytes + 65536,
    )
    hub = WebSocketHub(server_features(settings), settings.ws_queue_limit)
    store = open_store(settings.db_path, history_limit=settings.history_limit,
                       start_empty_if_damaged=settings.start_empty_if_damaged)
    queue = JobQueue(store, hub)
    app[SETTINGS] = settings
    app[BACKEND] = backend
    app[REGISTRY] = registry
    app[HUB] = hub
    app[QUEUE] = queue
    redactor = PathRedactor.for_settings(settings)
    app[REDACTOR] = redactor
    previews = PreviewSettings(settings.preview_method, settings.preview_interval_s)
    app[WORKER] = Worker(queue, backend, previews, redactor,
                         requeue_crashed=settings.on_crash == "requeue")
    app[INSTANCE] = Instance()
    add_routes(app)
    add_template_routes(app)
    if settings.frontend_root is not None:  # the official ComfyUI frontend: last, a catch-all
        add_comfy_site(app, settings.frontend_root)
        seed_user_folder(settings.user_dir / "default")
    else:
        add_web_routes(app)
    app.cleanup_ctx.append(_lifecycle)
    return app
