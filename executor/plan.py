"""Planning a job: fingerprints, cache keys, and which nodes run and why.

Reasons a node ran or was reused (``Reason``):
``cached`` reused; ``new`` never seen under this id and type; ``inputs_changed`` a constant or
an ancestor differs from the last job that had this node; ``fingerprint_changed`` only its
external state (e.g. the file) changed; ``evicted`` same key as last time but the cache no longer
held it; ``not_cacheable`` the node (or a node upstream) declares it never caches or has no
stable key; ``cache_disabled`` the cache policy is ``none``; ``forced`` the request forced it;
``unused`` needed by nothing that ran (a consumer was reused).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from executor.cache import CacheEntry, OutputCache
from executor.cache_key import Uncacheable, cache_key, canonical_bytes, inputs_key
from executor.validate import ValidatedPrompt
from nodes.api import CachePolicy, FingerprintContext

logger = logging.getLogger(__name__)


class Reason(str, enum.Enum):
    CACHED = "cached"
    NEW = "new"
    INPUTS_CHANGED = "inputs_changed"
    FINGERPRINT_CHANGED = "fingerprint_changed"
    EVICTED = "evicted"
    NOT_CACHEABLE = "not_cacheable"
    CACHE_DISABLED = "cache_disabled"
    FORCED = "forced"
    UNUSED = "unused"


@dataclass
class Plan:
    keys: dict[str, str | None]
    reasons: dict[str, Reason]
    hits: dict[str, CacheEntry]
    to_run: dict[str, None]
    lazy_parents: dict[str, set[str]] = field(default_factory=dict)


class KeyHistory:
    """The last keys seen per (node id, type), to explain why a node ran. Bounded."""

    def __init__(self, limit: int = 100_000) -> None:
        self._keys: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, node_id: str, node_type: str) -> tuple[str, str] | None:
        return self._keys.get((node_id, node_type))

    def record(self, node_id: str, node_type: str, in_key: str, key: str) -> None:
        if self._keys.get((node_id, node_type)) == (in_key, key):
            return  # unchanged (a reused node): keep the hot path cheap
        with self._lock:
            self._keys[(node_id, node_type)] = (in_key, key)
            self._keys.move_to_end((node_id, node_type))
            while len(self._keys) > self._limit:
                self._keys.popitem(last=False)


def _fingerprint(vp: ValidatedPrompt, node_id: str, fctx: FingerprintContext) -> Any:
    node = vp.nodes[node_id]
    values = {i.name: node.constants.get(i.name) for i in node.cls.inputs}
    try:
        value = node.cls.fingerprint(fctx, **values)
        canonical_bytes(value)
    except Uncacheable:
        raise
    except Exception as exc:  # as ComfyUI: a failing fingerprint means "always re-run"
        logger.warning("fingerprint of node %s (%s) failed: %s", node_id, node.cls.type_name, exc)
        raise Uncacheable(str(exc)) from exc
    return value


def compute_keys(
    vp: ValidatedPrompt, fctx_for: Callable[[str], FingerprintContext]
) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """(full keys, input-only keys) per node; ``None`` where no stable key exists."""
    keys: dict[str, str | None] = {}
    in_keys: dict[str, str | None] = {}
    extend_keys(vp, vp.order, fctx_for, keys, in_keys)
    return keys, in_keys


def extend_keys(
    vp: ValidatedPrompt, node_ids: Iterable[str], fctx_for: Callable[[str], FingerprintContext],
    keys: dict[str, str | None], in_keys: dict[str, str | None],
) -> None:
    """Add the keys of ``node_ids`` (in dependency order; their ancestors' keys are in
    ``keys`` already, or among them) to ``keys`` and ``in_keys``."""
    for node_id in node_ids:
        node = vp.nodes[node_id]
        policy = node.cls.cache
        try:
            in_key = None if policy is CachePolicy.NEVER else inputs_key(node, keys)
            key = in_key
            if in_key is not None and policy is CachePolicy.FINGERPRINT:
                key = cache_key(in_key, _fingerprint(vp, node_id, fctx_for(node_id)), True)
        except Uncacheable:
            in_key = key = None
        keys[node_id], in_keys[node_id] = key, in_key


def miss_reason(
    node_id: str, node_type: str, key: str | None, in_key: str | None,
    history: KeyHistory, cache: OutputCache,
) -> Reason:
    if key is None:
        return Reason.NOT_CACHEABLE
    if cache.name == "none":
        return Reason.CACHE_DISABLED
    previous = history.get(node_id, node_type)
    if previous is None:
        return Reason.NEW
    if previous[1] == key:
        return Reason.EVICTED
    if previous[0] == in_key:
        return Reason.FINGERPRINT_CHANGED
    return Reason.INPUTS_CHANGED


def lazy_names(vp: ValidatedPrompt, node_id: str) -> set[str]:
    node = vp.nodes[node_id]
    return {i.name for i in node.cls.inputs if i.lazy and i.name in node.links}


def expand(
    vp: ValidatedPrompt, plan: Plan, roots: Iterable[str], cache: OutputCache,
    force: frozenset[str],
) -> list[str]:
    """Pull ``roots`` and what they need into the plan: cache hits stop the walk.

    Returns the nodes newly added to ``to_run``. Lazy inputs are not followed.
    """
    added: list[str] = []
    stack = list(roots)
    while stack:
        node_id = stack.pop()
        if node_id in plan.to_run or node_id in plan.hits:
            continue
        key = plan.keys.get(node_id)
        entry = cache.get(key) if key is not None and node_id not in force else None
        if entry is not None:
            plan.hits[node_id] = entry
            plan.reasons[node_id] = Reason.CACHED
            continue
        plan.to_run[node_id] = None
        added.append(node_id)
        lazy = lazy_names(vp, node_id)
        for name, ref in vp.nodes[node_id].links.items():
            if name not in lazy:
                stack.append(ref.node_id)
    return added
