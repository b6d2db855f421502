"""Importing one node pack as ComfyUI does: a folder is a package imported under its folder
name (so its relative imports and ``sys.modules[name]`` lookups work), a file a module under its
stem, a ``--node-pack`` module by its dotted name. A failed import leaves nothing behind in
``sys.modules`` and is described as a :class:`~nodes.api.PackFailure`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from nodes.api.packs import PackFailure
from nodes.plugins.discovery import FILE, FOLDER, PackSource
from nodes.plugins.pip_hints import is_comfyui_module, pip_package

TRACEBACK_LINES = 40


class PackImportError(ImportError):
    """A pack that cannot be imported for a reason of its shape (no ``__init__.py``, a name
    taken by another module)."""


def _spec(source: PackSource) -> importlib.machinery.ModuleSpec:
    assert source.path is not None
    if source.kind == FOLDER:
        init = source.path / "__init__.py"
        if not init.is_file():
            raise PackImportError(f"pack folder {source.name!r} has no __init__.py")
        spec = importlib.util.spec_from_file_location(
            source.name, init, submodule_search_locations=[str(source.path)])
    else:
        spec = importlib.util.spec_from_file_location(source.name, source.path)
    if spec is None or spec.loader is None:
        raise PackImportError(f"pack {source.name!r} cannot be imported from {source.path}")
    return spec


def _forget(name: str) -> None:
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def import_pack(source: PackSource) -> ModuleType:
    """The pack's module, executed; a failure removes it (and its submodules) again."""
    if source.kind not in (FOLDER, FILE):
        return importlib.import_module(source.name)
    if source.name in sys.modules:
        raise PackImportError(f"pack name {source.name!r} is taken by a module already "
                              "imported; rename the pack folder")
    spec = _spec(source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[source.name] = module
    try:
        assert spec.loader is not None
        spec.loader.exec_module(module)
    except BaseException:
        _forget(source.name)
        raise
    return module


def _short_traceback(exc: BaseException, root: Path | None) -> tuple[str, ...]:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    if root is not None:
        prefix = str(root.parent) + "/"
        lines = [line.replace(prefix, "") for line in lines]
    return tuple(lines[-TRACEBACK_LINES:])


def describe_failure(exc: BaseException, source: PackSource | None = None) -> PackFailure:
    """The exception, its traceback (paths shown relative to the custom-nodes folder) and,
    for a missing module, the module and the pip package that provides it when known."""
    root = source.path if source is not None else None
    missing, package = None, None
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        missing = exc.name
        package = None if is_comfyui_module(missing) else pip_package(missing)
    message = str(exc)
    if missing and is_comfyui_module(missing):
        message += " (a part of ComfyUI that Latentgraph does not provide)"
    elif package:
        message += f" (install it into this environment: pip install {package})"
    elif missing:
        message += " (not installed in this environment; the pack's requirements.txt names it)"
    name = type(exc).__qualname__
    module = type(exc).__module__
    kind = name if module == "builtins" else f"{module}.{name}"
    return PackFailure(kind, message, _short_traceback(exc, root), missing, package)
