"""The worker process's composition root: what ``latentgraph serve`` runs its nodes with.

The server builds a :class:`WorkerSpec` (plain, picklable) and the process backend starts
``build_worker(spec)`` in the worker process (``spawn``): the worker builds its own registry (the
built-in nodes and the same node packs as the server — ``custom_nodes`` folders, ``--custom-nodes``,
``--node-pack``, the allow-list — loaded again in this process from the same
:class:`~nodes.plugins.settings.PluginSettings`), its output cache and its model ports. So a node
pack is imported by both processes: the server's copy answers ``/object_info``, validates and
serves the pack's routes, the worker's copy runs (its ``INPUT_TYPES`` is called here too, before
its nodes first run, so state a pack keeps from it exists where the node runs). A pack must
therefore register the same nodes wherever it is imported (no state shared between the two
copies).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor.worker_child import MessageSend, WorkerSetup
from executor.worker_wire import EncodedPreview
from nodes.api import ClientImage, Folders
from nodes.plugins.settings import PluginSettings

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


@dataclass(frozen=True)
class WorkerSpec:
    """How to build the worker's engine; everything in it crosses a process boundary."""

    input_dir: Path
    output_dir: Path
    temp_dir: Path
    models_dir: Path | None = None
    noise_compat: str = "current"
    plugins: PluginSettings = PluginSettings()
    cache: str = "bytes"
    cache_bytes: int | None = None
    log_level: int = logging.WARNING
    nice: int = 0  # added to the worker's niceness: the HTTP side wins the CPU when both want it


def encode_preview(preview: Any) -> EncodedPreview | None:
    """A node's preview (a PIL image, ComfyUI's ``(format, image, max_size)`` or already
    encoded bytes) as ``(format, bytes)``: encoded here, so only bytes cross the pipe."""
    from server.previews import encode_client_image
    from server.previews import encode_preview as encode

    if isinstance(preview, ClientImage):
        return ClientImage(encode_client_image(preview))
    encoded = encode("", preview)
    return None if encoded is None else (FORMATS[encoded.image_type], encoded.data)


def build_worker(spec: WorkerSpec) -> WorkerSetup:
    """Runs in the worker process: the engine the server's jobs run on."""
    from executor.cache import make_cache
    from latentgraph.app import build_engine, build_registry, default_model_folders

    logging.basicConfig(level=spec.log_level,
                        format="%(levelname)s %(name)s [worker]: %(message)s")
    if spec.nice:
        os.nice(spec.nice)
    folders = Folders(spec.input_dir, spec.output_dir, spec.temp_dir)
    model_folders = default_model_folders(folders, spec.models_dir)
    registry = build_registry(folders, model_folders, noise_compat=spec.noise_compat)
    connect = None
    if not spec.plugins.empty:
        from nodes.plugins import load_plugins

        load_plugins(registry, spec.plugins)  # failures logged here, tabled by the server
        connect = _pack_messages
    cache = make_cache(spec.cache, max_bytes=spec.cache_bytes)
    engine = build_engine(registry, folders, cache, model_folders=model_folders)
    return WorkerSetup(engine, encode_preview, connect)


def _pack_messages(send: MessageSend) -> None:
    """Node packs' ``PromptServer.instance.send_sync`` in the worker, and the memory a pack's
    node keeps run after run: forwarded to the server, which delivers the messages to the
    websocket and notes the memory in its pack report (``latentgraph.app.connect_plugins``)."""
    from nodes.plugins.host import RETAINED_MESSAGE, installed

    host = installed()
    if host is None:
        return
    host.send = send
    host.on_retained = lambda pack, node, nbytes: send(
        RETAINED_MESSAGE, {"pack": pack, "node": node, "bytes": nbytes}, None)
