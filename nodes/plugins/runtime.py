"""The node a plugin call runs for: ComfyUI's modules are module-level functions
(``comfy.utils.ProgressBar``, ``comfy.model_management.throw_exception_if_processing_interrupted``,
``comfy.sample.sample`` …), so the adapter publishes the running node's context in a context
variable for them to reach the job's ports, progress and cancellation. Set only around a plugin
call, per thread and task: nothing global outlives it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from nodes.api import RunContext


@dataclass(frozen=True)
class ActiveNode:
    """A plugin node being called: its run context, type and call index (list iteration)."""

    ctx: RunContext
    node_type: str
    call_index: int = 0


_ACTIVE: ContextVar[ActiveNode | None] = ContextVar("latentgraph_active_plugin_node",
                                                     default=None)


@contextmanager
def running(node: ActiveNode) -> Iterator[None]:
    token = _ACTIVE.set(node)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> ActiveNode | None:
    return _ACTIVE.get()


def current_context(what: str) -> RunContext:
    """The running node's context; outside a node run, an error naming ``what``."""
    node = _ACTIVE.get()
    if node is None:
        raise RuntimeError(f"{what} can only be used while a node runs (it reaches the job's "
                           "models, progress and cancellation)")
    return node.ctx
