"""Primitive nodes: one constant of each widget type, passed on as an output."""

from __future__ import annotations

import sys
from typing import Any

from nodes.api import BOOLEAN, FLOAT, INT, STRING, Boolean, Float, Int, Node, Output, RunContext
from nodes.api import String as StringInput

CATEGORY = "utils/primitive"


class PrimitiveInt(Node):
    """An integer constant (with the editor's control-after-generate widget)."""

    display_name = "Int"
    category = CATEGORY
    inputs = (Int("value", min=-sys.maxsize, max=sys.maxsize, control_after_generate=True,
                  tooltip="The integer."),)
    outputs = (Output(INT),)

    def run(self, ctx: RunContext, value: int) -> tuple[Any, ...]:
        return (value,)


class PrimitiveFloat(Node):
    """A floating-point constant."""

    display_name = "Float"
    category = CATEGORY
    inputs = (Float("value", min=-sys.maxsize, max=sys.maxsize, tooltip="The number."),)
    outputs = (Output(FLOAT),)

    def run(self, ctx: RunContext, value: float) -> tuple[Any, ...]:
        return (value,)


class PrimitiveBoolean(Node):
    """A true/false constant."""

    display_name = "Boolean"
    category = CATEGORY
    inputs = (Boolean("value", tooltip="The value."),)
    outputs = (Output(BOOLEAN),)

    def run(self, ctx: RunContext, value: bool) -> tuple[Any, ...]:
        return (value,)


class PrimitiveString(Node):
    """A one-line text constant."""

    display_name = "String"
    category = CATEGORY
    inputs = (StringInput("value", multiline=False, tooltip="The text."),)
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, value: str) -> tuple[Any, ...]:
        return (value,)


class PrimitiveStringMultiline(Node):
    """A multi-line text constant."""

    display_name = "String (Multiline)"
    category = CATEGORY
    inputs = (StringInput("value", multiline=True, tooltip="The text."),)
    outputs = (Output(STRING),)

    def run(self, ctx: RunContext, value: str) -> tuple[Any, ...]:
        return (value,)


PRIMITIVE_VALUE_NODES = [PrimitiveString, PrimitiveStringMultiline, PrimitiveInt, PrimitiveFloat,
                         PrimitiveBoolean]
