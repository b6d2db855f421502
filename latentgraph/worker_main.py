"""The worker process's composition root: what ``latentgraph serve`` runs its nodes with.

The server builds a :class:`WorkerSpec` (plain, picklable) and the process backend starts
``build_worker(spec)`` in the worker process (``spawn``): the worker builds its own registry (the
built-in nodes and the same node packs as the server, loaded again in this process), its output
cache and its model ports. So a node pack is imported by both processes: the server's copy
answers ``/object_info`` and validates, the worker's copy runs. A pack must therefore register
the same nodes wherever it is imported (no state shared between the two copies).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor.worker_child import WorkerSetup
from executor.worker_wire import EncodedPreview
from nodes.api import Folders

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


@dataclass(frozen=True)
class WorkerSpec:
    """How to build the worker's engine; everything in it crosses a process boundary."""

    input_dir: Path
    output_dir: Path
    temp_dir: Path
    models_dir: Path | None = None
    noise_compat: str = "current"
    node_packs: tuple[str, ...] = ()
    cache: str = "bytes"
    cache_bytes: int | None = None
    log_level: int = logging.WARNING


def encode_preview(preview: Any) -> EncodedPreview | None:
    """A node's preview (a PIL image, ComfyUI's ``(format, image, max_size)`` or already
    encoded bytes) as ``(format, bytes)``: encoded here, so only bytes cross the pipe."""
    from server.previews import encode_preview as encode

    encoded = encode("", preview)
    return None if encoded is None else (FORMATS[encoded.image_type], encoded.data)


def build_worker(spec: WorkerSpec) -> WorkerSetup:
    """Runs in the worker process: the engine the server's jobs run on."""
    from executor.cache import make_cache
    from latentgraph.app import build_engine, build_registry, default_model_folders
    from latentgraph.cli_serve import load_node_packs

    logging.basicConfig(level=spec.log_level,
                        format="%(levelname)s %(name)s [worker]: %(message)s")
    folders = Folders(spec.input_dir, spec.output_dir, spec.temp_dir)
    model_folders = default_model_folders(folders, spec.models_dir)
    registry = build_registry(folders, model_folders, noise_compat=spec.noise_compat)
    load_node_packs(registry, list(spec.node_packs))
    cache = make_cache(spec.cache, max_bytes=spec.cache_bytes)
    engine = build_engine(registry, folders, cache, model_folders=model_folders)
    return WorkerSetup(engine, encode_preview)
