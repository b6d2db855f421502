"""Memory estimates made before a job runs, and the budget they are checked against.

A node may declare ``Node.estimate_memory(ctx, **inputs) -> MemoryEstimate | None``: a cheap
estimate, from its constant inputs, of the largest memory it needs. Linked inputs arrive as the
:class:`TensorSpec` the producing node's estimate declared for that output (``None`` when the
producer declared none), so sizes flow down a graph: EmptyLatentImage → LatentUpscale →
VAEDecode. Estimates are deliberately *optimistic* (what the node cannot do without): a job is
refused only when it cannot run on this machine at all, whatever else is unloaded.

The executor compares each estimate with the engine's :class:`MemoryBudget` (``Ports.memory``,
wired by the composition root: the compute device's total memory and the host's RAM) and
refuses the job at validation with ``exceeds_memory_budget``, naming the node, its inputs and
the estimate against the budget.

Pure standard library: ``nodes.api`` stays free of torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

FLOAT32 = 4
FLOAT16 = 2


def format_bytes(size: float) -> str:
    """``1.5 GiB``, ``512 MiB``, ``800 bytes``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} bytes"


@dataclass(frozen=True)
class TensorSpec:
    """The shape of a tensor a node will output, known before it runs."""

    shape: tuple[int, ...]
    itemsize: int = FLOAT32

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.itemsize

    def describe(self, kind: str = "tensor") -> str:
        """``a 64×4×2048×2048 float32 latent (4.0 GiB)``."""
        dims = "×".join(str(d) for d in self.shape)
        dtype = {FLOAT32: "float32", FLOAT16: "float16"}.get(self.itemsize, "")
        return f"a {dims} {dtype} {kind} ({format_bytes(self.nbytes)})".replace("  ", " ")


@dataclass(frozen=True)
class MemoryEstimate:
    """What one node needs: ``device_bytes`` of working memory on the compute device and
    ``host_bytes`` of RAM (tensors kept on the CPU), described in plain words by ``what``;
    ``outputs`` (one per output slot, or fewer) feed the estimates of the nodes downstream."""

    device_bytes: int = 0
    host_bytes: int = 0
    what: str = ""
    outputs: tuple[TensorSpec | None, ...] = ()
    advice: str = ""  # what to change when it does not fit: "use a smaller width …"


@dataclass(frozen=True)
class MemoryBudget:
    """The most one job may use: bytes of the compute device and of host RAM (``None``:
    unknown, nothing is checked), and what is free right now (for error messages)."""

    device: int | None = None
    host: int | None = None
    device_free: int | None = None
    host_free: int | None = None
    device_name: str = "compute device"
    device_is_host: bool = False  # a CPU engine: device and host bytes share the RAM


MemoryReport = Callable[[], MemoryBudget]
"""What ``Ports.memory`` is: called at each validation and after an out-of-memory error."""


def no_budget() -> MemoryBudget:
    return MemoryBudget()
