"""Building the :class:`~nodes.plugins.adapter.v1.V1Node` subclass of one ComfyUI class."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nodes.api import CachePolicy, Hidden, Output, PackReport, Socket
from nodes.plugins.adapter import calls
from nodes.plugins.adapter.declaration import declare_inputs, jsonable
from nodes.plugins.adapter.v1 import AdapterError, V1Node

_IDENTIFIER = re.compile(r"\W")


def _socket(declared: Any) -> type[Socket]:
    """A socket class declared by ``declared`` itself (a str subclass keeps its ``!=``; a list
    of options is an enum output)."""
    return type("PluginSocket", (Socket,), {"type_name": declared,
                                            "__doc__": f"{jsonable(declared)} socket."})


def _outputs(cls: type, what: str) -> tuple[tuple[Output, ...], dict[str, Any]]:
    types = tuple(getattr(cls, "RETURN_TYPES", ()) or ())
    names = tuple(getattr(cls, "RETURN_NAMES", ()) or ())
    is_list = tuple(bool(x) for x in (getattr(cls, "OUTPUT_IS_LIST", ()) or ()))
    tooltips = getattr(cls, "OUTPUT_TOOLTIPS", None)
    if not isinstance(types, tuple) or any(t is None for t in types):
        raise AdapterError(f"{what}: RETURN_TYPES must be a tuple of type names, got {types!r}")
    is_list = is_list[:len(types)] + (False,) * max(0, len(types) - len(is_list))
    shown = [jsonable(names[i] if i < len(names) else t) for i, t in enumerate(types)]
    outputs = tuple(
        Output(_socket(t), str(shown[i]) if isinstance(shown[i], str) else None,
               str(tooltips[i]) if tooltips and i < len(tooltips) and tooltips[i] else "",
               is_list[i])
        for i, t in enumerate(types))
    info: dict[str, Any] = {"output_name": shown}
    if tooltips:
        info["output_tooltips"] = [jsonable(t) for t in tooltips]
    return outputs, info


def _extra_info(cls: type) -> dict[str, Any]:
    info: dict[str, Any] = {}
    aliases = getattr(cls, "SEARCH_ALIASES", None)
    if aliases:
        info["search_aliases"] = jsonable(list(aliases))
    if getattr(cls, "API_NODE", False) is True:
        info["api_node"] = True
    return info


def _function(cls: type, what: str) -> str:
    name = getattr(cls, "FUNCTION", None)
    if not isinstance(name, str) or not callable(getattr(cls, name, None)):
        raise AdapterError(f"{what}: FUNCTION must name a method of the class, got {name!r}")
    return name


def adapt(cls: type, type_name: str, display_name: str | None, module: str,
          report: PackReport | None = None) -> type[V1Node]:
    """The Node subclass running ``cls`` as node type ``type_name``. ``INPUT_TYPES()`` is
    called here; any exception (or a malformed declaration) propagates: the caller leaves
    this node out and keeps the pack's others."""
    what = f"node {type_name!r}"
    if not isinstance(cls, type):
        raise AdapterError(f"{what}: NODE_CLASS_MAPPINGS must map to classes, got "
                           f"{type(cls).__name__}")
    input_types = cls.INPUT_TYPES()  # type: ignore[attr-defined]
    if not isinstance(input_types, Mapping):
        raise AdapterError(f"{what}: INPUT_TYPES() returned {type(input_types).__name__}, "
                           "not a dict")
    validator = calls.validate_function(cls)
    validated, _ = calls.parameter_names(validator) if validator else (set(), False)
    inputs, hidden = declare_inputs(input_types, cls.INPUT_TYPES,  # type: ignore[attr-defined]
                                    validated, "input_types" in validated)
    outputs, info = _outputs(cls, what)
    kinds = set(hidden.values())
    uses_id = "UNIQUE_ID" in kinds or getattr(cls, "NOT_IDEMPOTENT", False) is True
    attrs = {
        "__module__": module, "__doc__": str(getattr(cls, "DESCRIPTION", "") or ""),
        "type_name": type_name, "display_name": display_name,
        "category": str(getattr(cls, "CATEGORY", "sd")), "inputs": inputs, "outputs": outputs,
        "output_node": getattr(cls, "OUTPUT_NODE", False) is True,
        "cache": (CachePolicy.FINGERPRINT if calls.fingerprint_function(cls) is not None
                  else CachePolicy.PURE),
        "hidden": frozenset({Hidden.UNIQUE_ID}) if uses_id else frozenset(),
        "input_is_list": bool(getattr(cls, "INPUT_IS_LIST", False)),
        "deprecated": getattr(cls, "DEPRECATED", False) is True,
        "experimental": getattr(cls, "EXPERIMENTAL", False) is True,
        "v1_class": cls, "v1_function": _function(cls, what), "v1_hidden": hidden,
        "v1_types": tuple(getattr(cls, "RETURN_TYPES", ()) or ()),
        "v1_is_list": tuple(o.is_list for o in outputs), "v1_info": {**info, **_extra_info(cls)},
        "v1_is_v3": calls.is_v3(cls), "pack_report": report,
    }
    name = _IDENTIFIER.sub("_", f"Plugin_{type_name}")
    return type(name, (V1Node,), attrs)
