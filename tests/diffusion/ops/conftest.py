"""One intra-op thread per test (tiny tensors; see ``tests.diffusion.single_thread``)."""

from __future__ import annotations

from tests.diffusion.single_thread import single_thread

__all__ = ["single_thread"]
