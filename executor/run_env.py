"""What one job run needs from the engine that owns it, passed in (no back-reference)."""

from __future__ import annotations

from dataclasses import dataclass

from executor.cache import OutputCache
from executor.plan import KeyHistory
from executor.schedule import OrderingPolicy
from nodes.api import FingerprintContext, Folders, Ports, Registry


@dataclass(frozen=True)
class RunEnv:
    """The registry, shared cache and key history, ordering policy, folders and ports."""

    registry: Registry
    cache: OutputCache
    history: KeyHistory
    ordering: OrderingPolicy
    folders: Folders | None
    ports: Ports

    def fingerprint_context(self, node_id: str) -> FingerprintContext:
        schema = self.registry.schema
        return FingerprintContext(node_id=node_id, folders=self.folders,
                                  model_files=self.ports.model_files, sampling=schema.sampling)
