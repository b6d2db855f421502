"""Suite-wide guards, and the hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` (``scripts/test.sh`` sets it, so CI runs it) gives the fuzz suites
their full example counts, derandomised; the default ``dev`` profile (a plain ``pytest``) a
tenth of them, random, so local runs stay quick and still explore.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=1000, derandomize=True, deadline=None, database=None,
    print_blob=True, suppress_health_check=list(HealthCheck))
settings.register_profile(
    "dev", max_examples=100, deadline=None, database=None, print_blob=True,
    suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

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
