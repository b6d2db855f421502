"""``latentgraph serve``: the HTTP/WebSocket server over a base folder.

The base folder holds ``input/``, ``output/``, ``temp/``, ``user/``, ``models/`` (unless
``--models-dir``) and the job database ``jobs.db``. The URL is printed once the socket listens.
SIGINT and SIGTERM stop the server gracefully: the running job is interrupted and put back in
the queue, pending jobs stay queued.

Nodes run in a supervised worker process (``executor.process_backend``), started with the
server; ``--in-process`` runs them in the server's process instead (debugging: one process to
attach to, but a crashing or hanging node then takes the server with it). ``--backend ray``
runs them on Ray actors instead, one per GPU of a Ray cluster (or ``--workers`` CPU actors),
jobs routed to the actor holding their models (``docs/scale-out.md``); Ray is imported only
then. Node packs (``latentgraph.cli_plugins``) load in every process from the same settings:
the server's copy lists and validates, the worker's (or actor's) runs
(``latentgraph.worker_main``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import logging
import os
import signal
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodes.api import Folders, Registry

if TYPE_CHECKING:  # the server is imported only when serving: `latentgraph run` stays light
    from aiohttp import web

    from executor.worker_supervisor import WorkerSupervisor
    from latentgraph.worker_main import WorkerSpec
    from nodes.models import ModelFolders
    from nodes.plugins.settings import PluginSettings
    from server.settings import ServerSettings

logger = logging.getLogger(__name__)
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")  # server.previews.PREVIEW_METHODS
TOKEN_ENV = "LATENTGRAPH_TOKEN"  # read by server.security.load_token
WORKER_NICE = 10  # serve --worker-nice: requests first when the CPUs are busy (soak.py)
WORKER_MEMORY_SHARE = 0.8  # of the RAM: the worker's default memory limit


def add_serve_parser(commands: Any) -> None:
    from latentgraph.cli import HELP, add_noise_compat

    serve = commands.add_parser("serve", help="run the HTTP/WebSocket server (ComfyUI API)",
                                formatter_class=HELP)
    add_noise_compat(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (anything but loopback needs a token)")
    serve.add_argument("--port", type=int, default=8188, help="port (0 picks a free one)")
    serve.add_argument("--base-dir", type=Path, default=Path.cwd(),
                       help="folder for input/, output/, temp/, user/, models/ and jobs.db")
    serve.add_argument("--models-dir", type=Path, default=None,
                       help="model folders (None: BASE_DIR/models)")
    serve.add_argument("--token-file", type=Path, default=None,
                       help=f"file holding the access token (or set {TOKEN_ENV})")
    serve.add_argument("--insecure-no-auth", action="store_true",
                       help="allow a non-loopback bind without a token (anyone can use it)")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="accept this Host name (besides IP literals and localhost)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="accept state-changing requests from this origin")
    serve.add_argument("--requeue-interrupted", action="store_true",
                       help="after a crash of the server or its worker, run the job that "
                            "was running again, once (default: fail it / mark it lost)")
    serve.add_argument("--history-limit", type=int, default=10_000,
                       help="finished jobs kept (oldest dropped first)")
    serve.add_argument("--max-upload-mb", type=int, default=100,
                       help="size limit of an upload (and of any request)")
    serve.add_argument("--max-body-mb", type=int, default=16,
                       help="size limit of a JSON body (/prompt, /api/run …) or userdata file")
    serve.add_argument("--cache", choices=("bytes", "lru", "none"), default="bytes",
                       help="output cache policy (default: a byte budget)")
    serve.add_argument("--cache-bytes", type=parse_size, default=None, metavar="SIZE",
                       help="the output cache's budget, e.g. 8G or 512M (default: a quarter "
                            "of the RAM available at start)")
    serve.add_argument("--start-empty-if-damaged", action="store_true",
                       help="if the job database is damaged, keep a copy and start with an "
                            "empty one (queue and history are lost) instead of refusing")
    serve.add_argument("--preview-method", choices=PREVIEW_METHODS, default="none",
                       help="live sampler previews for every prompt, as ComfyUI: none (a client "
                            "may still ask per prompt with extra_data.preview_method), auto or "
                            "latent2rgb (latent→RGB projection); taesd falls back to latent2rgb "
                            "(no TAESD decoder here)")
    serve.add_argument("--frontend", choices=("latentgraph", "comfyui"), default="latentgraph",
                       help="the UI at /: our editor, or the official ComfyUI frontend (install "
                            "it yourself: pip install comfyui-frontend-package)")
    serve.add_argument("--in-process", action="store_true",
                       help="run nodes in the server's process, not in a supervised worker "
                            "process (debugging; a crashing node takes the server down)")
    serve.add_argument("--backend", choices=("process", "ray"), default="process",
                       help="where nodes run: a supervised worker process, or Ray actors "
                            "(pip install latentgraph[ray]; docs/scale-out.md)")
    serve.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                       help="the Ray cluster to join (default: start a local Ray instance)")
    serve.add_argument("--workers", type=int, default=None, metavar="N",
                       help="Ray actors: at most N (default: one per GPU of the cluster; "
                            "on a cluster without GPUs, N CPU actors, default 1)")
    serve.add_argument("--ray-cpus-per-worker", type=float, default=1.0, metavar="CPUS",
                       help="the CPU share each Ray actor reserves")
    serve.add_argument("--routing", choices=("affinity", "round-robin"), default="affinity",
                       help="which queued job goes to which idle Ray actor: to the one "
                            "holding its models (affinity) or in turn")
    serve.add_argument("--no-requeue-crashed", action="store_true",
                       help="with --backend ray: fail a job whose actor died instead of "
                            "running it once more on another actor")
    serve.add_argument("--cancel-grace", type=float, default=10.0, metavar="SECONDS",
                       help="after a cancel, how long a node may run on before its worker "
                            "process is killed and restarted")
    serve.add_argument("--worker-max-memory", type=parse_size, default=None, metavar="SIZE",
                       help="the most resident memory the worker process may use (e.g. 12G, "
                            f"0 for no limit; default {WORKER_MEMORY_SHARE:.0%} of the RAM): "
                            "over it during a job, the worker is killed and the job fails; "
                            "after a job, the worker is replaced")
    serve.add_argument("--worker-nice", type=int, default=WORKER_NICE, metavar="N",
                       help="the worker process's niceness (0..19, default "
                            f"{WORKER_NICE}; 0: the server's priority): when the CPUs are "
                            "busy, requests are answered before node code runs on")

    from latentgraph.cli_plugins import add_plugin_arguments

    add_plugin_arguments(serve)


def parse_size(text: str) -> int:
    """``8G``, ``512M``, ``64K`` or a number of bytes."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = units.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if scale > 1 else raw) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 8G or 512M, got {text!r}"
                                         ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a size cannot be negative: {text!r}")
    return int(value)


def worker_memory_limit(given: int | None) -> int | None:
    """``--worker-max-memory``, or ``WORKER_MEMORY_SHARE`` of the RAM (``None``: unknown)."""
    if given is not None:
        return given or None  # 0: no limit
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                   * WORKER_MEMORY_SHARE)
    except (ValueError, OSError):
        return None


def load_node_packs(registry: Registry, specs: list[str]) -> None:
    """Load ``--node-pack`` modules (``MODULE`` or ``MODULE:FUNCTION``) into ``registry``."""
    from nodes.plugins import PluginSettings, load_plugins

    load_plugins(registry, PluginSettings(modules=tuple(specs)))


def _frontend(args: argparse.Namespace) -> dict[str, Any]:
    """The official frontend's folder and the workflow templates, for ``--frontend comfyui``
    (refused, saying how to install it, when the package is missing)."""
    if args.frontend != "comfyui":
        return {}
    from server.comfy_site import find_comfyui_frontend
    from server.templates import find_template_folders

    return {"frontend_root": find_comfyui_frontend(),
            "template_folders": find_template_folders()}


def _settings(args: argparse.Namespace) -> ServerSettings:
    from latentgraph.cli import version
    from server.security import load_token
    from server.settings import ServerSettings

    if args.preview_method == "taesd":
        logger.warning("--preview-method taesd: latentgraph has no TAESD decoder; previews use "
                       "the latent→RGB projection (latent2rgb) instead")
    return ServerSettings.under(
        args.base_dir, args.models_dir, host=args.host, port=args.port,
        token=load_token(args.token_file), insecure_no_auth=args.insecure_no_auth,
        allowed_hosts=frozenset(args.allow_host), allowed_origins=frozenset(args.allow_origin),
        on_crash="requeue" if args.requeue_interrupted or (
            args.backend == "ray" and not args.no_requeue_crashed) else "interrupt",
        history_limit=args.history_limit, max_upload_bytes=args.max_upload_mb * 2**20,
        max_body_bytes=args.max_body_mb * 2**20,
        start_empty_if_damaged=args.start_empty_if_damaged,
        preview_method=args.preview_method, version=version(), **_frontend(args),
    )


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


async def _serve(app: web.Application, settings: ServerSettings) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else settings.port
    print(f"latentgraph serving on {_url(settings.host, port)}", flush=True)
    if settings.token:
        print("authentication required: send 'Authorization: Bearer <token>' or open the "
              "URL with ?token=<token> once", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    try:
        print("latentgraph stopping", flush=True)
    except OSError:  # nobody reads stdout any more (a closed pipe): stop all the same
        logger.info("latentgraph stopping")
    await runner.cleanup()


def _checked_settings(args: argparse.Namespace) -> ServerSettings:
    """Settings, with the bind refused before anything heavy is imported (immediate)."""
    from server.security import check_bind

    settings = _settings(args)
    check_bind(settings)
    return settings


def _build_app(args: argparse.Namespace, settings: ServerSettings, registry: Registry | None
               ) -> tuple[web.Application, ServerSettings]:
    from latentgraph.app import build_registry, connect_plugins, default_model_folders, model_roots
    from latentgraph.cli_plugins import load_and_report, plugin_settings
    from server.settings import MODEL_FOLDERS

    plugins = plugin_settings(args, settings.base_dir)
    in_process = args.in_process or registry is not None  # a given registry runs here
    on_ray = args.backend == "ray" and not in_process
    # the worker starts first: it imports and registers its nodes (and the same node packs)
    # while this process does
    supervisor = None if in_process or on_ray else _start_worker(args, settings, plugins)
    try:
        folders = Folders(settings.input_dir, settings.output_dir, settings.temp_dir)
        model_folders = default_model_folders(folders, settings.models_dir)
        settings = dataclasses.replace(
            settings, model_roots=model_roots(model_folders, MODEL_FOLDERS))
        registry = registry if registry is not None else build_registry(
            folders, model_folders, noise_compat=args.comfy_noise)
        load_and_report(registry, plugins)
        if on_ray:
            app = _ray_app(args, settings, registry, folders, model_folders, plugins)
            connect_plugins(app, registry, None)
            return app, settings
        if supervisor is None:
            app = _in_process_app(args, settings, registry, folders, model_folders)
        else:
            app = _supervised_app(args, settings, registry, folders, model_folders, supervisor)
        connect_plugins(app, registry, supervisor)
        return app, settings
    except BaseException:
        if supervisor is not None:
            supervisor.close()
        raise


def _worker_spec(args: argparse.Namespace, settings: ServerSettings, plugins: PluginSettings
                 ) -> WorkerSpec:
    from latentgraph.worker_main import WorkerSpec

    if not 0 <= args.worker_nice <= 19:
        raise ValueError(f"--worker-nice must be 0..19, got {args.worker_nice}")
    return WorkerSpec(
        settings.input_dir, settings.output_dir, settings.temp_dir, settings.models_dir,
        args.comfy_noise, plugins, args.cache, args.cache_bytes,
        logging.getLogger().getEffectiveLevel(), args.worker_nice)


def _start_worker(args: argparse.Namespace, settings: ServerSettings, plugins: PluginSettings
                  ) -> WorkerSupervisor:
    from latentgraph.app import start_worker

    return start_worker(_worker_spec(args, settings, plugins))


def _ray_app(args: argparse.Namespace, settings: ServerSettings, registry: Registry,
             folders: Folders, model_folders: ModelFolders, plugins: PluginSettings
             ) -> web.Application:
    """The app over Ray actors (imports Ray); it stops the actors when it stops."""
    from functools import partial

    from executor.ray_backend import RayConfig
    from latentgraph.app import build_ray_backend, stop_with_app
    from latentgraph.worker_main import build_worker
    from server.app import create_app

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if importlib.util.find_spec("ray") is None:
        raise ImportError("--backend ray needs Ray: pip install 'latentgraph[ray]'")
    config = RayConfig(address=args.ray_address, workers=args.workers,
                       cpus_per_worker=args.ray_cpus_per_worker, policy=args.routing,
                       cancel_grace_s=args.cancel_grace)
    backend = build_ray_backend(partial(build_worker, _worker_spec(args, settings, plugins)),
                                registry, folders, model_folders, config)
    grace = max(settings.shutdown_grace_s, args.cancel_grace + 5)
    app = create_app(backend, registry, dataclasses.replace(settings, shutdown_grace_s=grace))
    stop_with_app(app, backend)
    return app


def _in_process_app(args: argparse.Namespace, settings: ServerSettings, registry: Registry,
                    folders: Folders, model_folders: ModelFolders) -> web.Application:
    from executor.cache import make_cache
    from latentgraph.app import build_engine
    from server.app import create_app

    cache = make_cache(args.cache, max_bytes=args.cache_bytes)
    engine = build_engine(registry, folders, cache, model_folders=model_folders)
    return create_app(engine, registry, settings)


def _supervised_app(args: argparse.Namespace, settings: ServerSettings, registry: Registry,
                    folders: Folders, model_folders: ModelFolders, supervisor: WorkerSupervisor
                    ) -> web.Application:
    """The app over the worker process; it stops the worker when it stops."""
    from latentgraph.app import build_process_backend, stop_with_app
    from server.app import create_app

    backend = build_process_backend(supervisor, registry, folders, model_folders,
                                    cancel_grace_s=args.cancel_grace,
                                    memory_limit=worker_memory_limit(args.worker_max_memory))
    # the job a shutdown interrupts ends within the cancel grace (its worker killed at worst)
    grace = max(settings.shutdown_grace_s, args.cancel_grace + 5)
    app = create_app(backend, registry, dataclasses.replace(settings, shutdown_grace_s=grace))
    stop_with_app(app, backend)
    return app


def serve_command(args: argparse.Namespace, registry: Registry | None) -> int:
    from server.security import InsecureBindError
    from server.store_integrity import DamagedStoreError

    try:
        settings = _checked_settings(args)
        app, settings = _build_app(args, settings, registry)
    except DamagedStoreError as exc:
        print(f"error: {exc}")
        return 3
    except sqlite3.Error as exc:  # e.g. locked by another server on the same base folder
        print(f"error: the job database cannot be opened: {exc}")
        return 2
    except (InsecureBindError, ValueError, OSError, ImportError, AttributeError) as exc:
        print(f"error: {exc}")
        return 2
    asyncio.run(_serve(app, settings))
    return 0
