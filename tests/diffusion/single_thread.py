"""Tests of tiny models on a loaded 2-core machine run with one intra-op thread: thread
spin-up costs milliseconds per op there. A conftest imports :func:`single_thread` to make it
autouse for its folder; the previous setting is restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
