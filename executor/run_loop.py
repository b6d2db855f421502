"""The run loop of one job: ready queue, lazy inputs, release of dead values, events."""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from typing import Any

from executor.cache import CacheEntry, outputs_nbytes
from executor.context import NodeRunContext
from executor.errors import JobCancelled, NodeFailure
from executor.events import (
    EventSink,
    JobFailed,
    JobInterrupted,
    JobStarted,
    JobSucceeded,
    NodeFinished,
    NodeOutput,
    NodesCached,
    NodeStarted,
)
from executor.expansion import (
    PendingExpansion,
    bind_expansion,
    check_sources,
    new_output_nodes,
    resolve_outputs,
)
from executor.invoke import Invocation, invoke_node, new_event_loop_runner
from executor.jobs import JobOutcome, JobRequest, JobStatus, summarize
from executor.memory import (
    describe_out_of_memory,
    is_out_of_memory,
    peak_rss_bytes,
    reset_peak_rss,
)
from executor.plan import (
    Plan,
    Reason,
    compute_keys,
    expand,
    extend_keys,
    lazy_names,
    miss_reason,
)
from executor.run_env import RunEnv
from executor.schedule import ScheduleState
from executor.validate import ValidatedPrompt
from nodes.api import NodeInterrupted

logger = logging.getLogger(__name__)
Outputs = tuple[tuple[Any, ...], ...]


class JobRun:
    """State of one running job. Used once."""

    def __init__(
        self, env: RunEnv, request: JobRequest, vp: ValidatedPrompt,
        sink: EventSink, cancel_event: threading.Event,
    ) -> None:
        self.env, self.request, self.vp = env, request, vp
        self.sink, self.cancel_event = sink, cancel_event
        self.result = JobOutcome(request.job_id, JobStatus.SUCCESS,
                                 node_errors=dict(vp.node_errors))
        self.values: dict[str, Outputs] = {}
        self.waiting: dict[str, set[str]] = {}
        self.children: dict[str, list[str]] = {}
        self.consumers_left: dict[str, int] = {}
        self.deps: dict[str, set[str]] = {}
        self.requested_lazy: dict[str, set[str]] = {}
        self.expanding: dict[str, PendingExpansion] = {}
        self.ready: list[str] = []
        self.keep = set(vp.outputs)
        self.in_keys: dict[str, str | None] = {}
        self.plan = Plan({}, {}, {}, {})
        self.state = ScheduleState(frozenset(), frozenset())
        self.run_coroutine, self.close_loop = new_event_loop_runner()

    # -- planning -------------------------------------------------------------------------
    def _make_plan(self) -> None:
        env, vp = self.env, self.vp
        keys, self.in_keys = compute_keys(vp, env.fingerprint_context)
        self.plan = Plan(keys, {}, {}, {})
        expand(vp, self.plan, reversed(vp.outputs), env.cache, self.request.force)
        outputs = frozenset(n for n in vp.order if vp.nodes[n].cls.output_node)
        feeds = frozenset(ref.node_id for o in outputs for ref in vp.nodes[o].links.values())
        parents = {n: frozenset(r.node_id for r in vp.nodes[n].links.values()) for n in vp.order}
        self.state = ScheduleState(outputs, feeds, parents)
        for node_id in self.plan.hits:
            self.values[node_id] = self.plan.hits[node_id].outputs
        self._wire(list(self.plan.to_run))

    def _wire(self, added: list[str]) -> None:
        """Add newly planned nodes to the dependency structures.

        Every linked parent counts the node as a consumer (lazy links too, so a value stays
        until the node has decided whether it wants it); only non-lazy links make it wait.
        """
        for node_id in added:
            lazy = lazy_names(self.vp, node_id)
            self.waiting[node_id] = set()
            for name, ref in self.vp.nodes[node_id].links.items():
                self._count_consumer(node_id, ref.node_id)
                if name not in lazy:
                    self._wait_for(node_id, ref.node_id)
        for node_id in added:
            if not self.waiting[node_id]:
                self.ready.append(node_id)

    def _count_consumer(self, node_id: str, parent: str) -> None:
        deps = self.deps.setdefault(node_id, set())
        if parent not in deps:
            deps.add(parent)
            self.consumers_left[parent] = self.consumers_left.get(parent, 0) + 1

    def _wait_for(self, node_id: str, parent: str) -> None:
        if parent not in self.values and parent not in self.waiting[node_id]:
            self.waiting[node_id].add(parent)
            self.children.setdefault(parent, []).append(node_id)

    # -- running --------------------------------------------------------------------------
    def run(self) -> JobOutcome:
        request, result = self.request, self.result
        self.sink(JobStarted(request.job_id))
        reset_peak_rss()  # process-wide: the server runs one job at a time per process
        current: str | None = None
        try:
            self._make_plan()
            self._report_cached()
            while self.ready:
                if self.cancel_event.is_set():
                    current = None
                    raise JobCancelled()
                current = self.ready.pop(self.env.ordering.pick(self.ready, self.state))
                if current in self.expanding:
                    self._finish_expansion(current)
                elif not self._lazy_pending(current):
                    self._run_node(current)
                self.state.last_node = current
            self._check_all_ran()
            self._finish_reasons()
            self.sink(JobSucceeded(request.job_id))
        except (JobCancelled, NodeInterrupted):
            self._interrupted(current)
        except Exception as exc:
            self._failed(current, exc)
        finally:
            self.close_loop()
            result.peak_rss_bytes = peak_rss_bytes()
        return result

    def _is_reused(self, node_id: str) -> bool:
        """Reused: a cache hit, or not needed this time while its result sits in the cache."""
        if node_id in self.plan.hits:
            return True
        key = self.plan.keys.get(node_id)
        return node_id not in self.plan.to_run and key is not None and key in self.env.cache

    def _check_all_ran(self) -> None:
        done = set(self.result.executed)
        stalled = [n for n in self.plan.to_run if n not in done]
        if stalled:  # an engine bug, never a silent success
            raise RuntimeError(f"execution stalled: nodes {stalled} never became ready")

    def _report_cached(self) -> None:
        cached = [n for n in self.vp.order if self._is_reused(n)]
        self.result.cached = cached
        self.sink(NodesCached(self.request.job_id, tuple(cached)))
        for node_id in cached:
            self._record_history(node_id)
            self._cached_notes(node_id)
            entry = self.plan.hits.get(node_id)
            if entry is not None and node_id in self.keep:
                self._deliver(node_id, entry.outputs, entry.ui, cached=True)

    def _cached_notes(self, node_id: str) -> None:
        """A reused node's notes, also when its value was not needed (a consumer was reused)."""
        entry = self.plan.hits.get(node_id)
        key = self.plan.keys.get(node_id)
        if entry is None and key is not None:
            entry = self.env.cache.get(key)
        if entry is not None and entry.notes:
            self.result.notes[node_id] = dict(entry.notes)

    def _lazy_pending(self, node_id: str) -> bool:
        """Ask the node which lazy inputs it needs; schedule them and wait if any are new."""
        lazy = lazy_names(self.vp, node_id)
        if not lazy:
            return False
        requested = self.requested_lazy.setdefault(node_id, set())
        instance = self.env.registry.instance(self.vp.nodes[node_id].cls.type_name)
        available = {k: v[0] if len(v) == 1 else v for k, v in self._input_lists(node_id).items()}
        needed = [n for n in instance.check_lazy(self._context(node_id), **available)
                  if n in lazy and n not in requested]
        if not needed:
            return False
        for name in needed:
            requested.add(name)
            parent = self.vp.nodes[node_id].links[name].node_id
            added = expand(self.vp, self.plan, [parent], self.env.cache, self.request.force)
            for hit in (p for p in self.plan.hits if p not in self.values):
                self.values[hit] = self.plan.hits[hit].outputs
            self._wire(added)
            self._wait_for(node_id, parent)
        if not self.waiting[node_id]:
            self.ready.append(node_id)
        return True

    def _input_lists(self, node_id: str) -> dict[str, list[Any]]:
        node = self.vp.nodes[node_id]
        lazy = lazy_names(self.vp, node_id) - self.requested_lazy.get(node_id, set())
        lists: dict[str, list[Any]] = {}
        for inp in node.cls.inputs:
            ref = node.links.get(inp.name)
            if ref is not None and inp.name not in lazy:
                lists[inp.name] = list(self.values[ref.node_id][ref.slot])
            elif ref is None and inp.name in node.constants:
                lists[inp.name] = [node.constants[inp.name]]
            else:
                lists[inp.name] = [None]
        return lists

    def _context(self, node_id: str) -> NodeRunContext:
        env, ports = self.env, self.env.ports
        return NodeRunContext(
            node_id, self.request.job_id, self.vp.prompt, self.request.extra_pnginfo,
            env.folders, ports.models, ports.model_files, ports.text, env.registry.samplers,
            logger, self.cancel_event, self.sink,
        )

    def _run_node(self, node_id: str) -> None:
        node = self.vp.nodes[node_id]
        self.result.reasons[node_id] = self._reason(node_id)
        self.sink(NodeStarted(self.request.job_id, node_id, node.cls.type_name))
        started = time.perf_counter()
        instance = self.env.registry.instance(node.cls.type_name)
        ctx = self._context(node_id)
        call = invoke_node(instance, ctx, self._input_lists(node_id), self.run_coroutine)
        if call.outputs is None:
            self._expand(node_id, call, dict(ctx.notes), started)
            return
        self._finish_node(node_id, call.outputs, call.ui, dict(ctx.notes), started)

    def _finish_node(self, node_id: str, outputs: Outputs, ui: dict[str, list[Any]],
                     notes: dict[str, Any], started: float) -> None:
        if notes:
            self.result.notes[node_id] = notes
        seconds = time.perf_counter() - started
        self.result.executed.append(node_id)
        self.result.timings[node_id] = seconds
        key = self.plan.keys.get(node_id)
        if key is not None:
            self.env.cache.put(key, CacheEntry(outputs, ui or None, outputs_nbytes(outputs),
                                               notes or None))
            self._record_history(node_id)
        self.sink(NodeFinished(self.request.job_id, node_id, seconds))
        self._deliver(node_id, outputs, ui or None, cached=False)
        self._complete(node_id, outputs)

    # -- node expansion (executor.expansion) -----------------------------------------------
    def _expand(self, node_id: str, call: Invocation, notes: dict[str, Any],
                started: float) -> None:
        """Add the nodes ``node_id`` expanded into, plan what its values need, and make it
        wait for those outputs."""
        pending = PendingExpansion(call.calls, call.ui, notes, started)
        order = bind_expansion(self.vp, self.env.registry, node_id, call.added)
        extend_keys(self.vp, order, self.env.fingerprint_context, self.plan.keys, self.in_keys)
        check_sources(self.vp, node_id, pending)
        for new in order:
            links = self.vp.nodes[new].links.values()
            self.state.parents[new] = frozenset(r.node_id for r in links)
        outputs = new_output_nodes(self.vp, order)
        self.state.output_nodes = self.state.output_nodes | frozenset(outputs)
        sources = pending.sources()
        added = expand(self.vp, self.plan, [*sources, *outputs], self.env.cache,
                       self.request.force)
        for hit in (p for p in self.plan.hits if p not in self.values):
            self.values[hit] = self.plan.hits[hit].outputs
        self._wire(added)
        self.expanding[node_id] = pending
        self.waiting[node_id] = set()
        for source in sources:
            self._count_consumer(node_id, source)
            self._wait_for(node_id, source)
        if not self.waiting[node_id]:
            self.ready.append(node_id)

    def _finish_expansion(self, node_id: str) -> None:
        pending = self.expanding.pop(node_id)
        missing = sorted(s for s in pending.sources() if s not in self.values)
        if missing:  # an engine bug, never a silent wrong value
            raise RuntimeError(f"node {node_id}: the outputs of {missing} it expanded into "
                               "are gone")
        outputs = resolve_outputs(self.vp.nodes[node_id].cls, pending, self.values)
        self._finish_node(node_id, outputs, pending.ui, pending.notes, pending.started)

    def _deliver(self, node_id: str, outputs: Outputs, ui: Any, *, cached: bool) -> None:
        if ui:
            self.result.outputs[node_id] = ui
            self.sink(NodeOutput(self.request.job_id, node_id, ui, cached))
        if node_id in self.keep and not self.vp.nodes[node_id].cls.output_node:
            self.result.summaries[node_id] = [
                ", ".join(summarize(v) for v in slot) for slot in outputs
            ]

    def _complete(self, node_id: str, outputs: Outputs) -> None:
        self.values[node_id] = outputs
        for child in self.children.pop(node_id, []):
            waiting = self.waiting[child]
            waiting.discard(node_id)
            if not waiting:
                self.ready.append(child)
        for parent in self.deps.pop(node_id, ()):
            self.consumers_left[parent] -= 1
            if self.consumers_left[parent] <= 0 and parent not in self.keep:
                self.values.pop(parent, None)

    def _reason(self, node_id: str) -> Reason:
        if node_id in self.request.force:
            return Reason.FORCED
        node_type = self.vp.nodes[node_id].cls.type_name
        return miss_reason(
            node_id, node_type, self.plan.keys.get(node_id), self.in_keys.get(node_id),
            self.env.history, self.env.cache,
        )

    def _record_history(self, node_id: str) -> None:
        key, in_key = self.plan.keys.get(node_id), self.in_keys.get(node_id)
        if key is not None and in_key is not None:
            node_type = self.vp.nodes[node_id].cls.type_name
            self.env.history.record(node_id, node_type, in_key, key)

    def _finish_reasons(self) -> None:
        reused = set(self.result.cached)
        for node_id in self.vp.order:
            if node_id in reused or node_id in self.plan.hits:
                self.result.reasons[node_id] = Reason.CACHED
            elif node_id not in self.result.reasons:
                self.result.reasons[node_id] = Reason.UNUSED

    # -- endings --------------------------------------------------------------------------
    def _interrupted(self, node_id: str | None) -> None:
        result = self.result
        result.status, result.interrupted_at = JobStatus.INTERRUPTED, node_id
        node_type = self.vp.nodes[node_id].cls.type_name if node_id else None
        self.sink(JobInterrupted(result.job_id, node_id, node_type, tuple(result.executed)))

    def _out_of_memory(self, node_id: str | None, node_type: str | None,
                       exc: BaseException) -> str:
        """Release what this job holds (its intermediate values, the failed call's frames,
        idle models), then say in plain words what ran out and what to change."""
        self.values.clear()
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
        unloaded = self.env.ports.models.unload_all()
        gc.collect()
        logger.warning("job %s ran out of memory in node %s; released its values and %d idle "
                       "models", self.request.job_id, node_id, unloaded)
        estimate = self.vp.estimates.get(node_id) if node_id else None
        return describe_out_of_memory(exc, node_type or "the job", estimate,
                                      self.env.ports.memory())

    def _failed(self, node_id: str | None, exc: Exception) -> None:
        node_type = self.vp.nodes[node_id].cls.type_name if node_id else None
        inputs: dict[str, str] = {}
        if node_id is not None:
            try:
                inputs = {k: ", ".join(summarize(v) for v in vals)
                          for k, vals in self._input_lists(node_id).items()}
            except Exception:  # inputs may be incomplete when planning failed
                inputs = {}
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        message = str(exc)
        if is_out_of_memory(exc):
            message = self._out_of_memory(node_id, node_type, exc)
        failure = NodeFailure(
            node_id or "", node_type or "", type(exc).__name__, message, lines, inputs
        )
        self.result.status, self.result.failure = JobStatus.FAILED, failure
        logger.info("job %s failed at node %s (%s): %s", self.result.job_id, node_id,
                    node_type, exc)
        self.sink(JobFailed(
            self.result.job_id, node_id, node_type, failure.exception_type, failure.message,
            tuple(lines), inputs, tuple(self.result.executed),
        ))
