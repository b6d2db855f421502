"""The plugin host: ComfyUI's module-level API bound to one registry, for ComfyUI packs.

ComfyUI packs import ``folder_paths``, ``comfy.utils``, ``comfy_execution.graph``,
``comfy_api.latest`` …, and ``nodes`` and ``server`` for ``NODE_CLASS_MAPPINGS`` and
``PromptServer``. Installing a host

- puts an import finder first on ``sys.meta_path`` that serves those names from
  ``nodes.plugins.compat`` (each module loaded on first import, once: ``comfy.utils`` *is*
  ``nodes.plugins.compat.comfy.utils``);
- adds ComfyUI's names to our own ``nodes`` and ``server`` packages (which share ComfyUI's
  module names): ``import nodes`` from a pack — even from a pack file itself named
  ``nodes.py`` (absolute imports) — gets our package, where ``nodes.NODE_CLASS_MAPPINGS``,
  ``nodes.MAX_RESOLUTION``, ``nodes.KSampler`` … now exist.

ComfyUI's API is process-wide by nature (module attributes), so one host is active per process;
it is the only global state of the plugin layer, and :func:`uninstall` removes every trace
(tests install and uninstall around each case).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from nodes.api import Registry

logger = logging.getLogger(__name__)

COMPAT = "nodes.plugins.compat"
ALIASED = ("folder_paths", "node_helpers", "latent_preview", "comfy", "comfy_execution",
           "comfy_api")
"""Top-level ComfyUI module names served from ``nodes.plugins.compat``."""

MessageSink = Callable[[str, Any, "str | None"], None]
"""``send(event, data, sid)``: a custom websocket message to one client (sid) or all."""
RETAINED_MESSAGE = "latentgraph.pack_retained"
"""The message a worker sends the server for a :data:`RetainedSink` note (never shown to
clients): ``{"pack": str, "node": str, "bytes": int}``."""
RetainedSink = Callable[[str, str, int], None]
"""``note(pack, node, nbytes)``: a node of a pack keeps memory run after run (a worker process
tells the server, whose copy of the pack report ``GET /api/plugins`` shows)."""


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, canonical: str) -> None:
        self.canonical = canonical

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.canonical)

    def exec_module(self, module: ModuleType) -> None:
        canonical = sys.modules.get(self.canonical)
        if canonical is not None and canonical.__spec__ is not None:  # undo the alias spec
            module.__spec__ = canonical.__spec__


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Serves ``comfy.utils`` and friends as the ``nodes.plugins.compat`` modules."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".", 1)[0] not in ALIASED:
            return None
        canonical = f"{COMPAT}.{fullname}"
        try:
            found = importlib.util.find_spec(canonical)
        except ModuleNotFoundError:
            found = None
        if found is None:
            return None  # a part of ComfyUI we do not provide: ModuleNotFoundError(fullname)
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(canonical),
                                              is_package=found.submodule_search_locations
                                              is not None)


class PluginHost:
    """What ComfyUI's module-level API reads: the registry (folders, model files, samplers,
    nodes), the V1 classes packs registered (``NODE_CLASS_MAPPINGS``), routes and messages."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.class_mappings: dict[str, type] = {}
        self.display_names: dict[str, str] = {}
        self.pack_modules: list[str] = []
        self.send: MessageSink | None = None
        self.on_retained: RetainedSink | None = None
        self.lock = threading.Lock()
        self.folder_table: dict[str, tuple[list[str], set[str]]] = {}
        self._routes: Any = None

    @property
    def routes(self) -> Any:
        """The ``aiohttp.web.RouteTableDef`` packs decorate (``PromptServer.instance.routes``)."""
        if self._routes is None:
            from aiohttp import web

            self._routes = web.RouteTableDef()
        return self._routes

    def route_count(self) -> int:
        return 0 if self._routes is None else len(list(self._routes))

    def expose(self, name: str, cls: type, display_name: str | None = None) -> None:
        """A class ``nodes.NODE_CLASS_MAPPINGS[name]`` gives packs."""
        self.class_mappings[name] = cls
        if display_name:
            self.display_names[name] = display_name


_FINDER = _AliasFinder()
_HOST: PluginHost | None = None
_ADDED: dict[str, list[str]] = {}


def current() -> PluginHost:
    """The installed host; ComfyUI modules used without one name the problem."""
    if _HOST is None:
        raise RuntimeError("ComfyUI compatibility modules are used outside a plugin host "
                           "(nodes.plugins.load_plugins installs one)")
    return _HOST


def installed() -> PluginHost | None:
    return _HOST


def add_module_names(module_name: str, names: dict[str, Any]) -> None:
    """Give our module ``module_name`` ComfyUI's ``names`` (never replacing its own)."""
    module = importlib.import_module(module_name)
    added = _ADDED.setdefault(module_name, [])
    for key, value in names.items():
        if key not in module.__dict__ or key in added:
            setattr(module, key, value)
            if key not in added:
                added.append(key)


def install(host: PluginHost) -> PluginHost:
    """Make ``host`` the active one (replacing any other) and serve ComfyUI's modules."""
    global _HOST
    if _HOST is not None and _HOST is not host:
        uninstall()
    _HOST = host
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    from nodes.plugins.compat import nodes_module, prompt_server

    add_module_names("nodes", nodes_module.exported(host))
    add_module_names("server", prompt_server.exported(host))
    samplers = sys.modules.get(f"{COMPAT}.comfy.samplers")
    if samplers is not None:  # a host before this one filled its lists: refill them
        samplers.refresh()
    return host


def uninstall() -> None:
    """Remove the host, the finder, ComfyUI's names on ``nodes`` / ``server``, the aliased
    names and the packs' modules from ``sys.modules`` (the compatibility modules themselves
    stay loaded under ``nodes.plugins.compat``: they keep no state of their own)."""
    global _HOST
    host, _HOST = _HOST, None
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for module_name, keys in _ADDED.items():
        module = sys.modules.get(module_name)
        for key in keys:
            if module is not None and key in module.__dict__:
                delattr(module, key)
    _ADDED.clear()
    gone = [k for k in sys.modules if k.split(".", 1)[0] in ALIASED]
    if host is not None:
        packs = set(host.pack_modules)
        gone += [k for k in sys.modules if k.split(".", 1)[0] in packs]
    for key in gone:
        sys.modules.pop(key, None)
