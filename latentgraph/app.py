"""The composition root: the one place that wires registry, node packs and engine together."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from executor.cache import OutputCache, make_cache
from executor.engine import Engine
from executor.memory import budget_from_devices
from nodes.api import Folders, ModelFiles, Ports, Registry

if TYPE_CHECKING:
    from aiohttp import web

    from executor.process_backend import ProcessBackend
    from executor.ray_backend import RayBackend, RayConfig
    from executor.worker_child import WorkerBuild
    from executor.worker_supervisor import WorkerSupervisor
    from latentgraph.worker_main import WorkerSpec
    from nodes.models import ModelFolders
    from nodes.plugins.host import MessageSink

EXTRA_MODEL_PATHS = "extra_model_paths.yaml"


def default_model_folders(folders: Folders, models_dir: Path | None = None) -> ModelFolders:
    """ComfyUI's layout under ``models_dir`` (default ``<base>/models``, base being the input
    folder's parent), plus ``<base>/extra_model_paths.yaml`` when present."""
    from nodes.models import model_folders

    base = Path(folders.input).parent
    extra = [base / EXTRA_MODEL_PATHS] if (base / EXTRA_MODEL_PATHS).is_file() else []
    return model_folders(models_dir or base / "models", extra)


def model_roots(model_folders: ModelFolders, names: Iterable[str]) -> dict[str, tuple[Path, ...]]:
    """Search paths of each model folder the server lists (``ServerSettings.model_roots``)."""
    roots: dict[str, tuple[Path, ...]] = {}
    for name in names:
        try:
            roots[name] = tuple(model_folders.search_paths(name))
        except KeyError:  # a folder the model nodes do not know (e.g. configs)
            continue
    return roots


def build_registry(folders: Folders | None = None,
                   model_folders: ModelFolders | None = None, *,
                   noise_compat: str = "current") -> Registry:
    """A registry holding the built-in node pack (plugins register the same way); its pickers
    list ``folders`` and ``model_folders`` (default: under the folders' base). ``noise_compat``:
    see ``nodes.builtin.register_builtin_nodes``."""
    from nodes.builtin import register_builtin_nodes

    if model_folders is None and folders is not None:
        model_folders = default_model_folders(folders)
    registry = Registry(folders=folders, model_files=model_folders)
    register_builtin_nodes(registry, noise_compat=noise_compat)
    return registry


def folders_under(base: Path, output_dir: Path | None = None) -> Folders:
    """The input/output/temp folders of a base directory (created when missing)."""
    folders = Folders(
        input=(base / "input").resolve(),
        output=(output_dir or base / "output").resolve(),
        temp=(base / "temp").resolve(),
    )
    for path in (folders.input, folders.output, folders.temp):
        path.mkdir(parents=True, exist_ok=True)
    return folders


def build_engine(
    registry: Registry, folders: Folders, cache: OutputCache | None = None, *,
    model_folders: ModelFolders | None = None, ports: Ports | None = None,
) -> Engine:
    """The engine; ``ports`` default to the local model ports (one ModelManager per engine) on
    ``model_folders`` (default: under the folders' base), with the devices' memory as the
    budget jobs are checked against (``ports`` given are used as they are); the cache
    defaults to the RAM-sized byte budget."""
    if ports is None:
        from nodes.models import local_ports

        ports = local_ports(model_folders or default_model_folders(folders))
        # jobs are checked against the devices' memory (given ports are used as they are)
        ports = dataclasses.replace(ports, memory=budget_from_devices(ports.devices))
    return Engine(registry, cache if cache is not None else make_cache("bytes"),
                  folders=folders, ports=ports)


def connect_plugins(app: Any, registry: Registry,
                    supervisor: WorkerSupervisor | None = None) -> None:
    """Mount the aiohttp routes ComfyUI packs registered (``PromptServer.instance.routes``) in
    the server's ``app`` (behind its security checks) and deliver their ``send_sync`` messages
    through its websocket hub: those sent in this process, and with a ``supervisor``, those its
    worker process forwards (sent by the worker's copy of the packs while their nodes run; and
    the memory a pack's node kept run after run, noted in the pack's report here). Nothing to
    do when no pack was loaded into ``registry``."""
    from nodes.plugins.host import installed

    host = installed()
    if host is None or host.registry is not registry:
        return
    from server.plugin_bridge import add_plugin_routes, message_sink

    if host.route_count():
        add_plugin_routes(app, host.routes)
    host.send = message_sink(app)
    if supervisor is not None:
        supervisor.message_sink = _from_worker(registry, host.send)


def _from_worker(registry: Registry, send: MessageSink) -> MessageSink:
    """The worker's messages: a pack node's retained memory goes to the pack's report here
    (what ``GET /api/plugins`` shows), everything else to the websocket."""
    from nodes.plugins.host import RETAINED_MESSAGE

    def deliver(event: str, data: Any, sid: str | None) -> None:
        if event != RETAINED_MESSAGE:
            send(event, data, sid)
            return
        for report in registry.pack_reports():
            if isinstance(data, dict) and report.name == data.get("pack"):
                report.note_retained(str(data.get("node")), int(data.get("bytes", 0)))

    return deliver


def start_worker(spec: WorkerSpec) -> WorkerSupervisor:
    """The supervisor of the worker process built from ``spec``, started now: the worker
    imports and registers its nodes while the caller builds the server's registry."""
    from functools import partial

    from executor.worker_supervisor import WorkerSupervisor
    from latentgraph.worker_main import build_worker

    supervisor = WorkerSupervisor(partial(build_worker, spec))
    supervisor.start()
    return supervisor


def build_process_backend(supervisor: WorkerSupervisor, registry: Registry, folders: Folders,
                          model_files: ModelFiles, *, cancel_grace_s: float = 10.0,
                          memory_limit: int | None = None) -> ProcessBackend:
    """The supervised backend: jobs run on the supervisor's worker; prompts are validated
    here with ``registry`` (the server's, holding the same nodes as the worker's) against the
    memory of the devices the worker reported."""
    from executor.process_backend import ProcessBackend
    from executor.prompt_validator import PromptValidator

    validator = PromptValidator(registry, folders, model_files,
                                budget_from_devices(supervisor.known_devices))
    return ProcessBackend(supervisor, validator, cancel_grace_s=cancel_grace_s,
                          memory_limit=memory_limit)


def build_ray_backend(build: WorkerBuild, registry: Registry, folders: Folders,
                      model_files: ModelFiles, config: RayConfig) -> RayBackend:
    """The Ray backend (imports Ray): connects to ``config.address`` or starts a local Ray,
    then starts the actors, each building its engine with ``build``; prompts are validated
    here with ``registry`` against the memory of the devices the actors report."""
    from executor.prompt_validator import PromptValidator
    from executor.ray_backend import RayBackend, start_ray
    from executor.ray_pool import RayPool
    from executor.routing import make_policy

    owns_ray = start_ray(config)
    pool = RayPool(build, workers=config.workers, cpus_per_worker=config.cpus_per_worker,
                   monitor_s=config.monitor_s)
    validator = PromptValidator(registry, folders, model_files,
                                budget_from_devices(pool.known_devices))
    backend = RayBackend(pool, validator, policy=make_policy(config.policy),
                         cancel_grace_s=config.cancel_grace_s, input_dir=Path(folders.input),
                         output_dir=Path(folders.output), owns_ray=owns_ray)
    pool.start()
    return backend


def stop_with_app(app: web.Application, backend: ProcessBackend | RayBackend) -> None:
    """Stop the worker process when the app stops, after its job worker (whose running job
    is interrupted first, within the backend's cancel grace); from the start of the shutdown
    on, a worker that ends is not replaced."""
    import asyncio

    async def retire(_: web.Application) -> None:
        backend.stop_restarting()

    async def close(_: web.Application) -> None:
        await asyncio.to_thread(backend.close)

    app.on_shutdown.append(retire)
    app.on_cleanup.append(close)
