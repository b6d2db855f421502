"""Sampling tests run on tiny tensors: one intra-op thread avoids spin-up overhead that, on a
loaded 2-core machine, costs milliseconds per op. The previous setting is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
