"""A plugin node pack used by the tests: it reaches models, folders, samplers and guiders only
through the contract (``nodes.api``), the payload types (``nodes.payloads``) and the public
``diffusion`` API — never a built-in node module (the import-boundary test checks).

Registered with :func:`register` like any ``--node-pack MODULE:FUNCTION``.
"""

from __future__ import annotations

from nodes.api import Registry
from tests.plugins.port_pack.nodes import PACK_NODES
from tests.plugins.port_pack.sampling import LINEAR_SCHEDULER, pack_euler

PACK_SAMPLER = "pack_euler"
PACK_SCHEDULER = "pack_linear"


def register(registry: Registry) -> None:
    registry.register_all(PACK_NODES, module="port_pack")
    registry.samplers.add_sampler(PACK_SAMPLER, pack_euler(PACK_SAMPLER))
    registry.samplers.add_scheduler(PACK_SCHEDULER, LINEAR_SCHEDULER)
