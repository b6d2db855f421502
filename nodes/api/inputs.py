"""Input declarations: one declaration gives validation, coercion and the V1 definition dict.

Coercion table (what a constant may arrive as, and what the node receives):

======== ================================================= ===================================
type     accepted                                          refused
======== ================================================= ===================================
INT      int; float or numeric string with integral value  bool, 20.5, "20.5", nan/inf, other
         (20.0, "20", "20.0", "1e3") → int                 strings, lists, dicts, None
FLOAT    int, float, numeric string → float                bool, nan/inf, other strings, None,
                                                           integers too large for a float
STRING   str; int/float → their decimal text               bool, lists, dicts, None, text with
                                                           a lone surrogate ("\\ud800")
BOOLEAN  true/false, "true"/"false" (any case), 0/1        other strings ("yes", "False "), 2
COMBO    a value equal to one of the choices               anything else
======== ================================================= ===================================

Never ``bool("false")``: the string ``"false"`` is False.

After coercion each value is checked against its declaration (``Input.check``), with
ComfyUI's codes: ``value_smaller_than_min`` / ``value_bigger_than_max`` (an INT with no declared
bound is still held to the 64-bit range ``-2**63 .. 2**64 - 1``), ``value_not_in_list``, and
ours for text: ``value_longer_than_max_length`` (``String.max_length``, default
:data:`~nodes.api.text.DEFAULT_MAX_LENGTH`) and ``invalid_filename_prefix``
(``nodes.api.file_inputs.FilenamePrefix``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from nodes.api.context import SchemaContext
from nodes.api.issues import Issue
from nodes.api.sockets import Socket, types_match
from nodes.api.text import DEFAULT_MAX_LENGTH, lone_surrogate, shown

INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # the bounds of an INT that declares none
NO_SCHEMA = SchemaContext()
"""The schema context of a registry wired to nothing: pickers list nothing."""


class CoercionError(ValueError):
    """A constant could not be converted to the declared input type."""


Problem = Issue
"""One validation problem of a constant input value (an :class:`Issue`)."""


@dataclass(frozen=True)
class Input:
    """Base of all input declarations."""

    name: str
    tooltip: str = field(default="", kw_only=True)
    optional: bool = field(default=False, kw_only=True)
    lazy: bool = field(default=False, kw_only=True)
    advanced: bool = field(default=False, kw_only=True)

    type_name: ClassVar[str] = "*"

    @property
    def default(self) -> Any:
        """The value an omitted input gets (widget declarations make it a typed field)."""
        return None

    @property
    def is_widget(self) -> bool:
        """Whether the editor shows this input as a widget (a constant) by default."""
        return True

    @property
    def has_default(self) -> bool:
        return self.default is not None

    def coerce(self, value: Any) -> Any:
        """Convert a constant to the declared type or raise :class:`CoercionError`."""
        return value

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        """Check a coerced constant against the declared constraints (choices are read from
        ``schema``)."""
        return None

    def options(self) -> dict[str, Any]:
        """The V1 option dict (``/object_info``)."""
        opts: dict[str, Any] = {}
        if self.tooltip:
            opts["tooltip"] = self.tooltip
        if self.lazy:
            opts["lazy"] = True
        if self.advanced:
            opts["advanced"] = True
        return opts

    def v1(self, schema: SchemaContext = NO_SCHEMA) -> list[Any]:
        """The V1 ``[type, options]`` entry."""
        return [self.type_name, self.options()]

    def extra_widget_values(self) -> int:
        """How many extra UI-only values follow this widget in ``widgets_values``."""
        return 0

    def accepts_type(self, received: Any) -> bool:
        """Whether a link from an output of type ``received`` may feed this input
        (:func:`~nodes.api.sockets.types_match` on the declared types)."""
        return types_match(received, self.type_name)


def _put(opts: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value is not False:
        opts[key] = value


def _range_problem(value: float, low: float | None, high: float | None) -> Problem | None:
    if low is not None and value < low:
        return Problem(
            code="value_smaller_than_min",
            message=f"Value {value} smaller than min of {low}",
            details=f"{value} < {low}",
        )
    if high is not None and value > high:
        return Problem(
            code="value_bigger_than_max",
            message=f"Value {value} bigger than max of {high}",
            details=f"{value} > {high}",
        )
    return None


def _parse_number(value: Any, kind: str) -> float | int:
    if isinstance(value, bool) or value is None:
        raise CoercionError(f"expected {kind}, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CoercionError(f"expected a finite {kind}, got {value!r}")
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise CoercionError(f"expected {kind}, got the string {shown(value)}") from None
        if not math.isfinite(number):
            raise CoercionError(f"expected a finite {kind}, got {shown(value)}")
        return number
    raise CoercionError(f"expected {kind}, got {type(value).__name__} {shown(value)}")


@dataclass(frozen=True)
class Int(Input):
    """An integer widget. Seeds may go up to 2**64 - 1 (exact, never through a float)."""

    default: int | None = None
    min: int | None = None
    max: int | None = None
    step: int | None = None
    control_after_generate: bool = False
    force_input: bool = False
    type_name: ClassVar[str] = "INT"

    @property
    def is_widget(self) -> bool:
        return not self.force_input

    def coerce(self, value: Any) -> int:
        number = _parse_number(value, "an integer")
        if isinstance(number, float):
            if not number.is_integer():
                raise CoercionError(f"expected an integer, got {shown(value)}")
            return int(number)
        return number

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        low = self.min if self.min is not None else INT_MIN
        return _range_problem(value, low, self.max if self.max is not None else INT_MAX)

    def options(self) -> dict[str, Any]:
        opts = super().options()
        for key in ("default", "min", "max", "step", "control_after_generate"):
            _put(opts, key, getattr(self, key))
        _put(opts, "forceInput", self.force_input)
        return opts

    def extra_widget_values(self) -> int:
        return 1 if self.control_after_generate else 0


@dataclass(frozen=True)
class Float(Input):
    """A floating-point widget."""

    default: float | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    round: float | None = None
    force_input: bool = False
    type_name: ClassVar[str] = "FLOAT"

    @property
    def is_widget(self) -> bool:
        return not self.force_input

    def coerce(self, value: Any) -> float:
        number = _parse_number(value, "a number")
        try:
            return float(number)
        except OverflowError:  # an integer beyond the float range (400 digits …)
            raise CoercionError(f"expected a number, got {shown(number)}, too large for a "
                                "float") from None

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        return _range_problem(value, self.min, self.max)

    def options(self) -> dict[str, Any]:
        opts = super().options()
        for key in ("default", "min", "max", "step", "round"):
            _put(opts, key, getattr(self, key))
        _put(opts, "forceInput", self.force_input)
        return opts


@dataclass(frozen=True)
class Floats(Float):
    """A list of floats (ComfyUI's FLOATS, e.g. a strength per keyframe), normally linked from
    another node's output; a constant may be one number or a list of numbers. Each value is a
    finite float; ``min`` / ``max`` are shown to editors but, as in ComfyUI, not enforced."""

    type_name: ClassVar[str] = "FLOATS"

    def coerce(self, value: Any) -> tuple[float, ...]:  # type: ignore[override]
        if isinstance(value, (list, tuple)):
            return tuple(float(_parse_number(v, "a number")) for v in value)
        return (float(_parse_number(value, "a number or a list of numbers")),)

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        return None


@dataclass(frozen=True)
class String(Input):
    """A text widget. ``max_length`` (characters) defaults to
    :data:`~nodes.api.text.DEFAULT_MAX_LENGTH`; declare more for inputs that carry whole files."""

    default: str | None = None
    multiline: bool = False
    dynamic_prompts: bool = False
    placeholder: str | None = None
    force_input: bool = False
    max_length: int | None = None
    type_name: ClassVar[str] = "STRING"

    @property
    def is_widget(self) -> bool:
        return not self.force_input

    @property
    def length_limit(self) -> int:
        return self.max_length if self.max_length is not None else DEFAULT_MAX_LENGTH

    def coerce(self, value: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value) if isinstance(value, float) else _int_text(value)
        if not isinstance(value, str):
            raise CoercionError(f"expected a string, got {type(value).__name__} {shown(value)}")
        index = lone_surrogate(value)
        if index is not None:
            raise CoercionError(f"the text is not valid Unicode: a lone surrogate at index "
                                f"{index}")
        return value

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        if len(value) > self.length_limit:
            return Problem(
                code="value_longer_than_max_length",
                message=f"Text of {len(value)} characters longer than max_length of "
                        f"{self.length_limit}",
                details=f"{len(value)} > {self.length_limit} characters",
            )
        return None

    def options(self) -> dict[str, Any]:
        opts = super().options()
        _put(opts, "default", self.default)
        _put(opts, "multiline", self.multiline)
        _put(opts, "dynamicPrompts", self.dynamic_prompts)
        _put(opts, "placeholder", self.placeholder)
        _put(opts, "forceInput", self.force_input)
        _put(opts, "max_length", self.max_length)
        return opts


def _int_text(value: int) -> str:
    if value.bit_length() > 4096:
        raise CoercionError(f"expected a string, got {shown(value)}")
    return str(value)


@dataclass(frozen=True)
class Boolean(Input):
    """A toggle widget."""

    default: bool | None = None
    label_on: str | None = None
    label_off: str | None = None
    force_input: bool = False
    type_name: ClassVar[str] = "BOOLEAN"

    @property
    def is_widget(self) -> bool:
        return not self.force_input

    def coerce(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise CoercionError(f"expected true or false, got {value!r}")

    def options(self) -> dict[str, Any]:
        opts = super().options()
        if self.default is not None:
            opts["default"] = self.default
        _put(opts, "label_on", self.label_on)
        _put(opts, "label_off", self.label_off)
        _put(opts, "forceInput", self.force_input)
        return opts


class SchemaChoices:
    """Choices computed from the schema context on every request (file and model pickers,
    sampler names): subclass it and implement ``__call__``."""

    def __call__(self, schema: SchemaContext) -> Sequence[str]:
        raise NotImplementedError


ChoiceSource = Sequence[str] | SchemaChoices | Callable[[], Sequence[str]]
"""A fixed list, :class:`SchemaChoices`, or a callable re-read on every request."""

# ComfyUI does not echo combo lists longer than this in validation errors.
_ECHO_LIMIT = 20


@dataclass(frozen=True)
class Combo(Input):
    """A choice among strings. ``choices`` may be :class:`SchemaChoices` (model and file
    pickers, sampler names) or another callable, re-read on every request."""

    choices: ChoiceSource = ()
    default: str | None = None
    image_upload: bool = False
    image_folder: str | None = None
    control_after_generate: bool = False
    type_name: ClassVar[str] = "COMBO"

    def options_list(self, schema: SchemaContext = NO_SCHEMA) -> list[str]:
        if isinstance(self.choices, SchemaChoices):
            return list(self.choices(schema))
        return list(self.choices() if callable(self.choices) else self.choices)

    def coerce(self, value: Any) -> Any:
        if isinstance(value, (dict, list)) or value is None:
            raise CoercionError(f"expected one of the choices, got {type(value).__name__}")
        return value

    def check(self, value: Any, schema: SchemaContext = NO_SCHEMA) -> Problem | None:
        choices = self.options_list(schema)
        if value in choices:
            return None
        shown = f"(list of length {len(choices)})" if len(choices) > _ECHO_LIMIT else choices
        return Problem(
            code="value_not_in_list",
            message="Value not in list",
            details=f"{value!r} not in {shown}",
        )

    def options(self) -> dict[str, Any]:
        opts = super().options()
        _put(opts, "default", self.default)
        _put(opts, "image_upload", self.image_upload)
        _put(opts, "image_folder", self.image_folder)
        _put(opts, "control_after_generate", self.control_after_generate)
        return opts

    def v1(self, schema: SchemaContext = NO_SCHEMA) -> list[Any]:
        return [self.options_list(schema), self.options()]

    def extra_widget_values(self) -> int:
        return int(self.image_upload) + int(self.control_after_generate)


@dataclass(frozen=True)
class Link(Input):
    """An input fed by another node's output of a socket type."""

    socket: type[Socket] = Socket

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return self.socket.type_name

    @property
    def is_widget(self) -> bool:
        return False

    def v1(self, schema: SchemaContext = NO_SCHEMA) -> list[Any]:
        return [self.type_name, self.options()]
