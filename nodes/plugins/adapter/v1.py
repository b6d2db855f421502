"""ComfyUI node classes run unchanged as our nodes.

:func:`adapt` turns a V1 class (``INPUT_TYPES``, ``RETURN_TYPES``, ``FUNCTION`` …) — or a V3
``ComfyNode`` through the same V1 face ComfyUI gives it — into a :class:`~nodes.api.Node`
subclass: inputs declared from ``INPUT_TYPES()`` (called once here, at registration, in every
process that loads the pack: packs keep state from it), outputs from ``RETURN_TYPES`` /
``RETURN_NAMES`` / ``OUTPUT_IS_LIST`` / ``OUTPUT_TOOLTIPS``. Running it calls the class's
function on an instance kept per node id (ComfyUI keeps instances across runs), with payloads in
ComfyUI's shapes and hidden inputs filled in, inside :mod:`nodes.plugins.runtime` so ComfyUI's
module functions reach the job; ``IS_CHANGED`` is the fingerprint, ``VALIDATE_INPUTS`` the
validation, ``check_lazy_status`` the lazy-input check, and results (tuples, ``ui``/``result``
dicts, expansions, blockers) become ``NodeResult``\\ s.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nodes.api import (
    FingerprintContext,
    Node,
    NodeResult,
    PackReport,
    RunContext,
)
from nodes.plugins.adapter import calls
from nodes.plugins.adapter.declaration import jsonable
from nodes.plugins.adapter.memory_watch import LeakWatch, live_bytes, value_bytes
from nodes.plugins.adapter.payloads import to_comfy
from nodes.plugins.adapter.results import normalize
from nodes.plugins.host import installed
from nodes.plugins.runtime import ActiveNode, running

logger = logging.getLogger(__name__)
MAX_INSTANCES = 256


class AdapterError(TypeError):
    """A ComfyUI class that cannot be adapted (the reason names what is wrong)."""


class V1Node(Node):
    """Base of every adapted ComfyUI class; one subclass per class (see :func:`adapt`)."""

    v1_class: ClassVar[type]
    v1_function: ClassVar[str]
    v1_hidden: ClassVar[dict[str, str]] = {}
    v1_types: ClassVar[tuple[Any, ...]] = ()
    v1_is_list: ClassVar[tuple[bool, ...]] = ()
    v1_info: ClassVar[dict[str, Any]] = {}
    v1_is_v3: ClassVar[bool] = False
    pack_report: ClassVar[PackReport | None] = None

    def __init__(self) -> None:
        self._objects: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._calls = threading.local()
        self._leaks = LeakWatch()
        self._warned: set[str] = set()

    # -- one instance per node id, as ComfyUI keeps them ----------------------------------
    def _object(self, node_id: str) -> Any:
        with self._lock:
            obj = self._objects.get(node_id)
            if obj is None:
                obj = self.v1_class if self.v1_is_v3 else self.v1_class()
                self._objects[node_id] = obj
                while len(self._objects) > MAX_INSTANCES:
                    self._objects.popitem(last=False)
            self._objects.move_to_end(node_id)
            return obj

    def _call_index(self, ctx: RunContext) -> int:
        """Which call of this node run (list iteration): the context is new per run."""
        if getattr(self._calls, "ctx", None) is not ctx:
            self._calls.ctx, self._calls.index = ctx, 0
        else:
            self._calls.index += 1
        return int(self._calls.index)

    # -- arguments --------------------------------------------------------------------------
    def _hidden(self, ctx: RunContext) -> dict[str, Any]:
        from nodes.plugins.compat.comfy_execution.graph import DynamicPrompt

        values = {"PROMPT": dict(ctx.prompt), "DYNPROMPT": DynamicPrompt(ctx.prompt),
                  "EXTRA_PNGINFO": dict(ctx.extra_pnginfo) or None, "UNIQUE_ID": ctx.node_id}
        return {name: values.get(kind) for name, kind in self.v1_hidden.items()}

    def _arguments(self, ctx: RunContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for inp in self.inputs:
            value = inputs.get(inp.name)
            absent = value is None or (self.input_is_list and value == [None])
            if absent and inp.optional and not inp.lazy:
                continue  # ComfyUI passes only inputs the prompt gives: defaults apply
            if self.input_is_list and isinstance(value, list):
                out[inp.name] = [to_comfy(v, inp.type_name) for v in value]
            else:
                out[inp.name] = to_comfy(value, inp.type_name)
        if not self.v1_is_v3:
            hidden = self._hidden(ctx)
            out.update({k: [v] for k, v in hidden.items()} if self.input_is_list else hidden)
        return out

    def _function(self, obj: Any, ctx: RunContext, name: str) -> Any:
        if self.v1_is_v3:
            clone = self.v1_class.PREPARE_CLASS_CLONE(self._v3_hidden(ctx))  # type: ignore
            return getattr(clone, name)
        return getattr(obj, name)

    def _v3_hidden(self, ctx: RunContext) -> dict[str, Any]:
        return {kind: value for kind, value in zip(self.v1_hidden.values(),
                                                    self._hidden(ctx).values(), strict=True)}

    # -- running ----------------------------------------------------------------------------
    def run(self, ctx: RunContext, **inputs: Any) -> Any:
        from nodes.plugins.compat.comfy_execution.graph_utils import default_prefix

        obj = self._object(ctx.node_id)
        kwargs = self._arguments(ctx, inputs)
        active = ActiveNode(ctx, self.type_name, self._call_index(ctx))
        function = self._function(obj, ctx, self.v1_function)
        before = live_bytes()
        with running(active), default_prefix(ctx.node_id, active.call_index):
            result = function(**kwargs)
        if inspect.isawaitable(result):
            return self._finish_async(ctx, active, result, before)
        return self._finish(ctx, result, before)

    async def _finish_async(self, ctx: RunContext, active: ActiveNode, pending: Any,
                            before: int) -> NodeResult:
        from nodes.plugins.compat.comfy_execution.graph_utils import default_prefix

        with running(active), default_prefix(ctx.node_id, active.call_index):
            result = await pending
        return self._finish(ctx, result, before)

    def _finish(self, ctx: RunContext, result: Any, before: int) -> NodeResult:
        notes: list[str] = []
        out = normalize(result, self.v1_types, self.v1_is_list, f"node {self.type_name!r}",
                        notes)
        if notes:
            self._unsupported(ctx, sorted(set(notes)))
        self._watch(ctx, before, out)
        return out

    def _unsupported(self, ctx: RunContext, notes: list[str]) -> None:
        ctx.note("unsupported_model_options", notes)
        new = [n for n in notes if n not in self._warned]
        if new:
            self._warned.update(new)
            logger.warning("node %s (%s) patched its MODEL with %s, which Latentgraph does not "
                           "support; sampling runs without them", ctx.node_id, self.type_name,
                           ", ".join(new))

    def _watch(self, ctx: RunContext, before: int, out: NodeResult) -> None:
        if not before:
            return
        retained = live_bytes() - before - value_bytes(out.values)
        leaked = self._leaks.record(retained)
        if leaked is None:
            return
        ctx.note("retained_bytes", retained)
        if self.pack_report is not None:
            self.pack_report.note_retained(self.type_name, self._leaks.total)
            host = installed()
            if host is not None and host.on_retained is not None:
                host.on_retained(self.pack_report.name, self.type_name, self._leaks.total)
        logger.warning("node %s (%s) keeps memory run after run: %.1f MiB over its last runs "
                       "beyond its outputs (a leak in the pack?)", ctx.node_id, self.type_name,
                       leaked / 2**20)

    # -- fingerprint, validation, lazy inputs ---------------------------------------------
    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, **inputs: Any) -> Any:
        fn = calls.fingerprint_function(cls.v1_class)
        if fn is None:
            return None
        if not callable(fn):  # IS_CHANGED = True: calling fails -> always re-run
            raise TypeError(f"IS_CHANGED of {cls.type_name!r} is not callable")
        return jsonable(calls.call_with(fn, dict(inputs)))

    @classmethod
    def validate(cls, ctx: FingerprintContext, **inputs: Any) -> str | bool | None:
        fn = calls.validate_function(cls.v1_class)
        if fn is None:
            return None
        values = dict(inputs)
        names, _ = calls.parameter_names(fn)
        if "input_types" in names:
            values["input_types"] = dict(ctx.input_types)
        result = calls.call_with(fn, values)
        return None if result is True else (False if result is False else str(result))

    def check_lazy(self, ctx: RunContext, **inputs: Any) -> Sequence[str]:
        obj = self._object(ctx.node_id)
        fn = calls.lazy_function(self.v1_class, obj)
        if fn is None:
            return []  # ComfyUI evaluates no lazy input of a class without check_lazy_status
        if self.v1_is_v3:
            fn = self._function(obj, ctx, "check_lazy_status")
        active = ActiveNode(ctx, self.type_name, 0)
        with running(active):
            needed = fn(**self._arguments(ctx, inputs))
        return [n for n in (needed or []) if isinstance(n, str)]

    @classmethod
    def extend_info(cls, info: dict[str, Any]) -> dict[str, Any]:
        return _v1_info(cls, info)


def _v1_info(cls: type[V1Node], info: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI's own fields: hidden inputs, output tooltips only when declared, extras."""
    if cls.v1_hidden:
        info["input"]["hidden"] = {name: kind for name, kind in cls.v1_hidden.items()}
        info["input_order"]["hidden"] = list(cls.v1_hidden)
    info["output"] = [jsonable(t) for t in cls.v1_types]
    info.update(cls.v1_info)
    if "output_tooltips" not in cls.v1_info:
        info.pop("output_tooltips", None)
    return info
