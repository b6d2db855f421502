"""The functions of a ComfyUI class the adapter calls, for V1 classes and V3 ``ComfyNode``\\ s.

V1: ``obj.<FUNCTION>(**inputs)`` on an instance (one per node id), ``cls.IS_CHANGED`` (a method
or a plain attribute: calling a non-function fails, which means "always changed", as in
ComfyUI), ``cls.VALIDATE_INPUTS``, ``obj.check_lazy_status``; hidden inputs are keyword
arguments. V3: the classmethods ``execute`` / ``fingerprint_inputs`` / ``validate_inputs`` /
``check_lazy_status`` (the last three only where the class defines them), called on a clone of
the class whose ``hidden`` holds the hidden inputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from nodes.plugins.compat.comfy_api.latest.io import ComfyNode


def is_v3(cls: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, ComfyNode)


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name, None) is not None and \
        getattr(cls, name).__func__ is not getattr(ComfyNode, name).__func__


def fingerprint_function(cls: type) -> Callable[..., Any] | None:
    if is_v3(cls):
        return cls.fingerprint_inputs if _overrides(cls, "fingerprint_inputs") \
            else None
    if not hasattr(cls, "IS_CHANGED"):
        return None
    return cls.IS_CHANGED


def validate_function(cls: type) -> Callable[..., Any] | None:
    if is_v3(cls):
        return cls.validate_inputs if _overrides(cls, "validate_inputs") else None
    return getattr(cls, "VALIDATE_INPUTS", None)


def lazy_function(cls: type, obj: Any) -> Callable[..., Any] | None:
    if is_v3(cls):
        return cls.check_lazy_status if _overrides(cls, "check_lazy_status") else None
    return getattr(obj, "check_lazy_status", None)


def parameter_names(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    """(named parameters, takes **kwargs) of a function; a non-function takes nothing."""
    try:
        spec = inspect.getfullargspec(fn)
    except TypeError:
        return set(), False
    names = set(spec.args) | set(spec.kwonlyargs)
    names.discard("self")
    names.discard("cls")
    names.discard("s")
    return names, spec.varkw is not None


def call_with(fn: Callable[..., Any], values: dict[str, Any]) -> Any:
    """``fn`` called with the values its signature takes (all of them with ``**kwargs``)."""
    names, takes_all = parameter_names(fn)
    if takes_all:
        return fn(**values)
    return fn(**{k: v for k, v in values.items() if k in names})
