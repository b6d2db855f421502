"""ComfyUI's ``INPUT_TYPES()`` as our input declarations, one per input.

Each declaration validates and coerces like ours (the coercion table of ``nodes.api.inputs``)
and shows in ``/object_info`` exactly what the class declared (its own option dict). Only plain
``str`` type names ``INT`` / ``FLOAT`` / ``STRING`` / ``BOOLEAN`` are widgets; a list (or
``"COMBO"`` with ``options``) is a combo whose choices are re-read from ``INPUT_TYPES()`` on
every request, as ComfyUI does; anything else — custom type names, ``"*"``, ``str`` subclasses
that compare equal to everything — is a link input declared by that very object, so type checks
use ComfyUI's ``!=`` on it. An input ``VALIDATE_INPUTS`` names skips the built-in range and
choice checks; with ``input_types`` in its signature, links are not type-checked at all.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from nodes.api import (
    Boolean,
    Combo,
    Float,
    Input,
    Int,
    SchemaChoices,
    SchemaContext,
    String,
)
from nodes.api.inputs import NO_SCHEMA, Problem

logger = logging.getLogger(__name__)
SECTIONS = ("required", "optional")
REFRESH_S = 0.5  # INPUT_TYPES() is re-read at most this often for combo choices


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of an option value (tuples -> lists, enums -> values, str subclasses
    -> str, infinite floats -> null, unknown objects -> str)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool) or value is None or type(value) in (int, str):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    return str(value)


class _V1:
    """What every adapted input adds to its base declaration (set once, when declared): the
    entry ComfyUI lists (``raw``), whether the built-in checks apply (``checked``) and whether
    links of any type are accepted (``any_link``). Plain attributes, not dataclass fields:
    declaring the classes stays cheap at start-up."""

    raw: Any = None
    checked: bool = True
    any_link: bool = False

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        if not self.checked:
            return None
        return super().check(value, schema)  # type: ignore[misc]

    def v1(self, schema: SchemaContext = NO_SCHEMA) -> list[Any]:
        return list(self.raw)

    def accepts_type(self, received: Any) -> bool:
        return self.any_link or super().accepts_type(received)  # type: ignore[misc]


class V1Int(_V1, Int):
    pass


class V1Float(_V1, Float):
    pass


class V1String(_V1, String):
    pass


class V1Boolean(_V1, Boolean):
    pass


class V1Combo(_V1, Combo):
    """A combo; ``new_form``: listed as ``["COMBO", {"options": […]}]``."""

    new_form: bool = False

    def v1(self, schema: SchemaContext = NO_SCHEMA) -> list[Any]:
        options = jsonable(self.options_list(schema))
        opts = dict(self.raw[1]) if len(self.raw) > 1 else {}
        if self.new_form:
            return ["COMBO", {**opts, "options": options}]
        return [options, opts] if len(self.raw) > 1 else [options]

    def accepts_type(self, received: Any) -> bool:
        if isinstance(received, (list, tuple)) or received == "COMBO":
            return True
        return super().accepts_type(received)


class V1Link(_V1, Input):
    """A link input of any declared type (also given constants, passed as they are)."""

    declared: Any = None

    @property
    def type_name(self) -> Any:  # type: ignore[override]
        return self.declared

    @property
    def is_widget(self) -> bool:
        return False

    def coerce(self, value: Any) -> Any:
        return value


def _with(declaration: Input, **extra: Any) -> Input:
    """``declaration`` with the adapter's attributes (a frozen dataclass: set once, here)."""
    for key, value in extra.items():
        object.__setattr__(declaration, key, value)
    return declaration


class LiveChoices(SchemaChoices):
    """A combo's options, read from the class's ``INPUT_TYPES()`` (at most every
    ``REFRESH_S``); if that call fails, the options read at load time."""

    def __init__(self, source: Callable[[], Mapping[str, Any]], section: str, name: str,
                 initial: list[Any]) -> None:
        self.source, self.section, self.name, self.initial = source, section, name, initial
        self._lock = threading.Lock()
        self._read_at = time.monotonic()
        self._value = initial

    def __call__(self, schema: SchemaContext) -> list[Any]:
        with self._lock:
            if time.monotonic() - self._read_at < REFRESH_S:
                return self._value
            self._read_at = time.monotonic()
            try:
                entry = self.source()[self.section][self.name]
                self._value = combo_options(entry) or self._value
            except Exception:  # a class whose INPUT_TYPES now fails: keep what it had
                logger.warning("INPUT_TYPES of %s failed; its options stay as loaded",
                               self.name, exc_info=True)
            return self._value


def combo_options(entry: Any) -> list[Any] | None:
    """The options of a combo entry (legacy list form or ``"COMBO"`` form), else None."""
    kind = entry[0] if isinstance(entry, (list, tuple)) and entry else entry
    if isinstance(kind, (list, tuple)):
        return list(kind)
    opts = entry[1] if isinstance(entry, (list, tuple)) and len(entry) > 1 else {}
    if type(kind) is str and kind == "COMBO" and isinstance(opts, Mapping):
        return list(opts.get("options", []))
    return None


def _common(name: str, opts: Mapping[str, Any], optional: bool) -> dict[str, Any]:
    return {"name": name, "optional": optional, "lazy": bool(opts.get("lazy")),
            "tooltip": str(opts.get("tooltip") or ""), "advanced": bool(opts.get("advanced"))}


def _number(kind: type[Int] | type[Float], common: dict[str, Any],
            opts: Mapping[str, Any], extra: dict[str, Any]) -> Input:
    values = {k: opts.get(k) for k in ("default", "min", "max", "step")}
    if kind is V1Int:
        values = {k: (int(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                      and math.isfinite(v) else None) for k, v in values.items()}
    return _with(kind(**common, **values, force_input=bool(opts.get("forceInput"))), **extra)


def declare_input(name: str, entry: Any, optional: bool, source: Callable[[], Mapping[str, Any]],
                  section: str, checked: bool, any_link: bool) -> Input:
    """One adapted input from its INPUT_TYPES entry (``(type,)`` or ``(type, options)``)."""
    if not isinstance(entry, (list, tuple)):
        entry = (entry,)
    kind = entry[0] if entry else "*"
    opts = entry[1] if len(entry) > 1 and isinstance(entry[1], Mapping) else {}
    raw = jsonable(list(entry))
    common = _common(name, opts, optional)
    extra = {"raw": raw, "checked": checked, "any_link": any_link}
    options = combo_options(entry)
    if options is not None:
        default = opts.get("default")
        choices = LiveChoices(source, section, name, options)
        return _with(V1Combo(**common, choices=choices, default=default), **extra,
                     new_form=not isinstance(kind, (list, tuple)))
    if type(kind) is str and kind == "INT":
        return _number(V1Int, common, opts, extra)
    if type(kind) is str and kind == "FLOAT":
        return _number(V1Float, common, opts, extra)
    if type(kind) is str and kind == "STRING":
        default = opts.get("default")
        return _with(V1String(**common, default=None if default is None else str(default),
                              multiline=bool(opts.get("multiline")),
                              force_input=bool(opts.get("forceInput"))), **extra)
    if type(kind) is str and kind == "BOOLEAN":
        default = opts.get("default")
        return _with(V1Boolean(**common, default=None if default is None else bool(default),
                               force_input=bool(opts.get("forceInput"))), **extra)
    return _with(V1Link(**common), declared=kind, **extra)


def declare_inputs(input_types: Mapping[str, Any], source: Callable[[], Mapping[str, Any]],
                   validated: set[str], any_link: bool) -> tuple[tuple[Input, ...],
                                                                 dict[str, str]]:
    """(inputs in INPUT_TYPES order, hidden inputs by name -> kind)."""
    inputs: list[Input] = []
    for section in SECTIONS:
        for name, entry in (input_types.get(section) or {}).items():
            inputs.append(declare_input(str(name), entry, section == "optional", source,
                                        section, str(name) not in validated, any_link))
    hidden = {}
    for name, kind in (input_types.get("hidden") or {}).items():
        value = kind[0] if isinstance(kind, (list, tuple)) and kind else kind
        hidden[str(name)] = str(value)
    return tuple(inputs), hidden
