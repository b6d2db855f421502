"""Loading node packs into a registry, each isolated: a pack that fails is reported and the
others load; a node that fails is left out and its pack's others load.

A pack registers nodes in one or more of three ways, all honoured:

- our API: a module-level ``register(registry)`` defined by the pack (``--node-pack
  MODULE:FUNCTION`` names the function);
- ComfyUI V1: ``NODE_CLASS_MAPPINGS`` (and ``NODE_DISPLAY_NAME_MAPPINGS``), read as module
  attributes whatever ``__all__`` says, each class adapted (``nodes.plugins.adapter``);
- ComfyUI V3: ``async def comfy_entrypoint() -> ComfyExtension`` whose ``get_node_list()``
  gives ``io.ComfyNode`` classes.

``WEB_DIRECTORY`` exposes the pack's front-end files. Import time per pack is measured (the CLI
prints ComfyUI's table, ``nodes.plugins.startup``); a pack's ``requirements.txt`` is never
installed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any

from nodes.api import Registry
from nodes.api.packs import FAILED, PackReport
from nodes.plugins.discovery import MODULE, PackSource, discover
from nodes.plugins.host import PluginHost, install, installed
from nodes.plugins.importing import describe_failure, import_pack
from nodes.plugins.settings import PluginSettings

logger = logging.getLogger(__name__)
OURS, V1, V3 = "latentgraph", "comfyui-v1", "comfyui-v3"


def _run_coroutine(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a pack's coroutine to its end, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=worker, name="plugin-entrypoint")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class PackLoader:
    """Registers one imported pack's nodes into the registry, node by node."""

    def __init__(self, registry: Registry, host: PluginHost, source: PackSource,
                 report: PackReport) -> None:
        self.registry, self.host, self.source, self.report = registry, host, source, report
        self.module_name = (source.name if source.kind == MODULE
                            else f"custom_nodes.{source.name}")

    def _leave_out(self, node: str, exc: BaseException) -> None:
        failure = describe_failure(exc, self.source)
        self.report.left_out[node] = f"{failure.exception_type}: {failure.message}"
        logger.warning("node pack %s: node %r left out: %s: %s", self.source.name, node,
                       failure.exception_type, failure.message)

    def register_ours(self, function: Callable[[Registry], Any]) -> None:
        before = set(self.registry.names())
        function(self.registry)
        added = [n for n in self.registry.names() if n not in before]
        self.report.nodes += added
        self.report.apis.append(OURS)
        from nodes.plugins.compat.builtin_views import view_class

        for name in added:
            self.host.expose(name, view_class(self.registry, name))

    def register_classes(self, classes: dict[str, Any], names: dict[str, Any], api: str
                         ) -> None:
        from nodes.plugins.adapter.build import adapt

        for type_name, cls in classes.items():
            try:
                node = adapt(cls, str(type_name), _display(names, type_name),
                             self.module_name, self.report)
                self.registry.register(node, module=self.module_name)
            except Exception as exc:  # one bad node never sinks its pack
                self._leave_out(str(type_name), exc)
                continue
            self.report.nodes.append(str(type_name))
            self.host.expose(str(type_name), cls, _display(names, type_name))
        if api not in self.report.apis:
            self.report.apis.append(api)

    def register_v3(self, entrypoint: Callable[[], Any]) -> None:
        async def extension_nodes() -> list[Any]:
            extension = await entrypoint()
            if hasattr(extension, "on_load"):
                await extension.on_load()
            return list(await extension.get_node_list())

        classes: dict[str, Any] = {}
        names: dict[str, Any] = {}
        for cls in _run_coroutine(extension_nodes):
            schema = cls.GET_SCHEMA()
            classes[schema.node_id] = cls
            if schema.display_name:
                names[schema.node_id] = schema.display_name
        self.register_classes(classes, names, V3)

    def web_directory(self, module: ModuleType) -> None:
        folder = getattr(module, "WEB_DIRECTORY", None)
        file = getattr(module, "__file__", None)
        if not folder or not file:
            return
        path = (Path(file).parent / str(folder)).resolve()
        if path.is_dir():
            self.registry.register_web_directory(self.source.name.rsplit(".", 1)[-1], path)
            self.report.web_directory = str(folder)


def _display(names: Any, type_name: Any) -> str | None:
    value = names.get(type_name) if isinstance(names, dict) else None
    return str(value) if value else None


def _own_register(module: ModuleType) -> Callable[[Registry], Any] | None:
    """A ``register`` function the pack itself defines (not one it imported)."""
    function = getattr(module, "register", None)
    if callable(function) and getattr(function, "__module__", None) == module.__name__:
        return function  # type: ignore[no-any-return]
    return None


def _register(loader: PackLoader, module: ModuleType) -> None:
    source = loader.source
    function = getattr(module, source.function) if source.function else _own_register(module)
    if function is not None:
        loader.register_ours(function)
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if isinstance(mappings, dict):
        names = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {}
        loader.register_classes(dict(mappings), names, V1)
    entrypoint = getattr(module, "comfy_entrypoint", None)
    if callable(entrypoint):
        loader.register_v3(entrypoint)
    loader.web_directory(module)
    if not loader.report.apis and not loader.report.left_out:
        logger.warning("node pack %s registers no nodes (no register(registry), "
                       "NODE_CLASS_MAPPINGS or comfy_entrypoint)", source.name)


def load_pack(registry: Registry, host: PluginHost, source: PackSource) -> PackReport:
    """Import and register one pack; every failure ends in its report, never raised."""
    report = PackReport(source.name, source.shown_path(), source.origin)
    started = time.perf_counter()
    routes_before = host.route_count()
    try:
        module = import_pack(source)
        if source.kind != MODULE:
            host.pack_modules.append(source.name)
        _register(PackLoader(registry, host, source, report), module)
    except (Exception, SystemExit) as exc:  # a pack calling sys.exit() is a failed pack too
        report.status, report.error = FAILED, describe_failure(exc, source)
        logger.error("node pack %s failed to load: %s: %s", source.name,
                     report.error.exception_type, report.error.message)
        logger.debug("".join(report.error.traceback))
    report.seconds = time.perf_counter() - started
    report.routes = host.route_count() - routes_before
    registry.add_pack_report(report)
    return report


def load_plugins(registry: Registry, settings: PluginSettings) -> list[PackReport]:
    """Load every pack the settings name into ``registry`` (the ComfyUI compatibility host is
    installed first when packs exist); returns one report per pack, disabled ones included."""
    sources, disabled = discover(settings)
    for report in disabled:
        registry.add_pack_report(report)
    if not sources:
        return disabled
    host = installed()
    if host is None or host.registry is not registry:
        host = install(PluginHost(registry))
        from nodes.plugins.compat.builtin_views import expose_builtins

        expose_builtins(host)
    import nodes.plugins.adapter.build  # noqa: F401 (loaded once, not inside a pack's time)

    return [*disabled, *(load_pack(registry, host, source) for source in sources)]
