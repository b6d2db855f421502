"""Suite-wide guards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

RSS_LIMIT_BYTES = int(1.5 * 2**30)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:  # not Linux: the guard is off
        return 0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(autouse=True)
def rss_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test whose resident memory grows by more than 1.5 GB (no full-size models)."""
    before = _rss_bytes()
    yield
    grown = _rss_bytes() - before
    if grown > RSS_LIMIT_BYTES:
        pytest.fail(f"{request.node.nodeid} grew RSS by {grown / 2**30:.2f} GiB (limit 1.5 GiB)")
