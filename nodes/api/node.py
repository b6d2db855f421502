"""The Node base class, its outputs and results."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from nodes.api.context import FingerprintContext, RunContext
from nodes.api.inputs import Input
from nodes.api.memory import MemoryEstimate
from nodes.api.sockets import Socket


class CachePolicy(enum.Enum):
    """How the executor may reuse a node's outputs."""

    PURE = "pure"  # outputs depend only on inputs (the default)
    FINGERPRINT = "fingerprint"  # also on external state, read by ``Node.fingerprint``
    NEVER = "never"  # side effects or randomness: always runs


class Hidden(enum.Enum):
    """Job metadata a node asks for (ComfyUI's hidden inputs), read from the run context."""

    PROMPT = "PROMPT"
    EXTRA_PNGINFO = "EXTRA_PNGINFO"
    UNIQUE_ID = "UNIQUE_ID"


@dataclass(frozen=True)
class Output:
    """A named, typed output slot."""

    socket: type[Socket]
    name: str | None = None
    tooltip: str = ""
    is_list: bool = False

    @property
    def type_name(self) -> str:
        return self.socket.type_name

    @property
    def display_name(self) -> str:
        return self.name or self.socket.type_name


@dataclass(frozen=True)
class Blocked:
    """Stands in for an output value to block every consumer (ComfyUI's ExecutionBlocker).

    With a message, a consumer fails with that message; with ``None`` it is skipped silently.
    """

    message: str | None = None


@dataclass(frozen=True)
class OutputRef:
    """Output ``slot`` of node ``node_id``: in the values of a :class:`NodeResult` that
    expands, it stands for that output's value once the node producing it has run."""

    node_id: str
    slot: int


@dataclass(frozen=True)
class Expansion:
    """Nodes a node adds to its running job (ComfyUI's node expansion), in API-prompt form:
    ``{id: {"class_type": …, "inputs": {…}}}``; inputs may link to these nodes and to the
    prompt's. The ids must be new to the job (``<node id>.<call>.<n>`` keeps them unique). The
    added nodes are validated, cached and reported like the prompt's; output nodes among them
    run too."""

    nodes: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class NodeResult:
    """Output values plus UI data (images to show, text …) for the editor and history.

    With ``expand``, values may be :class:`OutputRef` references to the added nodes' outputs:
    the node completes once those have run.
    """

    values: tuple[Any, ...] = ()
    ui: Mapping[str, list[Any]] | None = None
    expand: Expansion | None = None


class Node:
    """Base class of every node. Subclasses declare, the executor drives.

    The class docstring is the node's description in the editor. ``run`` receives the run
    context and one keyword argument per declared input (absent optional inputs arrive as their
    default or ``None``); it may be ``async``. It returns a tuple of output values (one per
    declared output) or a :class:`NodeResult`.
    """

    type_name: ClassVar[str] = ""  # defaults to the class name
    display_name: ClassVar[str | None] = None
    category: ClassVar[str] = "sd"
    inputs: ClassVar[tuple[Input, ...]] = ()
    outputs: ClassVar[tuple[Output, ...]] = ()
    output_node: ClassVar[bool] = False
    version: ClassVar[int] = 1
    cache: ClassVar[CachePolicy] = CachePolicy.PURE
    hidden: ClassVar[frozenset[Hidden]] = frozenset()
    input_is_list: ClassVar[bool] = False
    deprecated: ClassVar[bool] = False
    experimental: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("type_name"):
            cls.type_name = cls.__name__

    def run(self, ctx: RunContext, **inputs: Any) -> tuple[Any, ...] | NodeResult:
        raise NotImplementedError(f"node {self.type_name!r} does not implement run()")

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, **inputs: Any) -> Any:
        """External state the outputs depend on (``CachePolicy.FINGERPRINT``).

        Called once per job with the constant inputs (linked ones are ``None``); must return
        JSON-like data. A changed value re-runs the node.
        """
        return None

    @classmethod
    def validate(cls, ctx: FingerprintContext, **inputs: Any) -> str | bool | None:
        """Extra validation of constant inputs: a message (or ``False``) refuses them, ``None``
        (or ``True``, ComfyUI's ``VALIDATE_INPUTS`` convention) accepts them."""
        return None

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, **inputs: Any) -> MemoryEstimate | None:
        """A cheap estimate of the memory this node needs, made at validation
        (``nodes.api.memory``): constant inputs arrive as values, linked ones as the
        ``TensorSpec`` their producer's estimate declared (or ``None``). ``None``: unknown."""
        return None

    def check_lazy(self, ctx: RunContext, **inputs: Any) -> Sequence[str]:
        """Names of lazy inputs still needed, given those evaluated so far (others ``None``)."""
        return [i.name for i in self.inputs if i.lazy and inputs.get(i.name) is None]

    @classmethod
    def description(cls) -> str:
        return inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""

    @classmethod
    def input(cls, name: str) -> Input:
        for declared in cls.inputs:
            if declared.name == name:
                return declared
        raise KeyError(f"node {cls.type_name!r} has no input {name!r}")

    @classmethod
    def uses_node_id(cls) -> bool:
        return Hidden.UNIQUE_ID in cls.hidden

    @classmethod
    def extend_info(cls, info: dict[str, Any]) -> dict[str, Any]:
        """The ``/object_info`` definition generated from the declaration, for a node to
        complete (adapters of ComfyUI classes add their hidden inputs, search aliases …)."""
        return info
