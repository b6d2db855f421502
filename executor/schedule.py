"""Ordering policies: which ready node runs next.

Any order of ready nodes is correct; the policy decides what users feel. The default:

1. output and preview nodes first (results show up as early as possible);
2. then consumers of the node that just ran (its values are hot and can be released soon,
   and a chain that holds a loaded model finishes before another chain swaps it out);
3. then nodes that feed an output node directly;
4. then the node that became ready first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class ScheduleState:
    """What a policy may look at."""

    output_nodes: frozenset[str]
    feeds_output: frozenset[str]
    parents: dict[str, frozenset[str]] = field(default_factory=dict)
    last_node: str | None = None


class OrderingPolicy(Protocol):
    def pick(self, ready: Sequence[str], state: ScheduleState) -> int:
        """The index in ``ready`` of the node to run next."""
        ...


class DefaultOrdering:
    """Outputs first, then the last node's consumers, then output feeders, then FIFO."""

    def pick(self, ready: Sequence[str], state: ScheduleState) -> int:
        best, best_rank = 0, 4
        for index, node_id in enumerate(ready):
            rank = self._rank(node_id, state)
            if rank < best_rank:
                best, best_rank = index, rank
                if rank == 0:
                    break
        return best

    @staticmethod
    def _rank(node_id: str, state: ScheduleState) -> int:
        if node_id in state.output_nodes:
            return 0
        if state.last_node is not None and state.last_node in state.parents.get(node_id, ()):
            return 1
        if node_id in state.feeds_output:
            return 2
        return 3


class FifoOrdering:
    """Plain first-ready-first-run (useful to compare against, and in tests)."""

    def pick(self, ready: Sequence[str], state: ScheduleState) -> int:
        return 0
