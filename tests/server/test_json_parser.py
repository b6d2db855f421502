"""Large bodies are parsed in a helper process: same values, same refusals, and a helper that
dies is replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.errors import BadRequestError, PayloadTooLargeError
from server.json_parser import JsonParser

SMALL_LIMIT = 1024  # bodies of 1 KiB or more go to the helper in these tests


@pytest.fixture
def parser() -> Iterator[JsonParser]:
    parser = JsonParser(process_bytes=SMALL_LIMIT)
    yield parser
    parser.close()


def helper_pids(parser: JsonParser) -> list[int]:
    pool = parser._pool
    return [] if pool is None else list(pool._processes)  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_large_bodies_are_parsed_in_the_helper(parser: JsonParser) -> None:
    assert await parser.parse(b'{"small": 1}', 64) == {"small": 1}
    assert helper_pids(parser) == []  # small bodies stay in this process (a thread)
    value = {"prompt": {"1": {"inputs": {"text": "é" * 5000, "n": [1, 2.5, None, True]}}}}
    assert await parser.parse(json.dumps(value).encode(), 64) == value
    (pid,) = helper_pids(parser)
    assert pid != os.getpid()


@pytest.mark.asyncio
async def test_refusals_cross_back_as_the_same_errors(parser: JsonParser) -> None:
    with pytest.raises(PayloadTooLargeError) as too_many:
        await parser.parse(b'{"a": [' + b"0," * 1_000_001 + b"0]}", 64)
    assert too_many.value.issue.code == "json_too_many_values"
    with pytest.raises(BadRequestError) as surrogate:
        await parser.parse(b'{"prompt_id": "\\ud800", "pad": "' + b"x" * 2000 + b'"}', 64)
    assert surrogate.value.issue.code == "invalid_text"
    assert surrogate.value.issue.extra_info["field"] == "prompt_id"
    with pytest.raises(BadRequestError) as deep:
        await parser.parse(b"[" * 70 + b'"' + b"x" * 2000 + b'"' + b"]" * 70, 64)
    assert deep.value.issue.code == "json_too_deep"
    assert helper_pids(parser)  # all three were refused there


@pytest.mark.asyncio
async def test_a_helper_that_died_is_replaced(parser: JsonParser) -> None:
    body = json.dumps({"pad": "x" * 4000}).encode()
    assert await parser.parse(body, 64) == {"pad": "x" * 4000}
    (first,) = helper_pids(parser)
    os.kill(first, signal.SIGKILL)
    assert await parser.parse(body, 64) == {"pad": "x" * 4000}  # in a thread, or a new helper
    assert await parser.parse(body, 64) == {"pad": "x" * 4000}
    assert first not in helper_pids(parser)


ORPHAN = """
import asyncio, json, sys, time
from server.json_parser import JsonParser
parser = JsonParser(process_bytes=1024)
asyncio.run(parser.parse(json.dumps({"pad": "x" * 4000}).encode(), 64))
print(list(parser._pool._processes)[0], flush=True)
time.sleep(600)
"""


def test_the_helper_ends_with_the_server_even_on_kill_9() -> None:
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen([sys.executable, "-c", ORPHAN], cwd=root, text=True,
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert server.stdout is not None
        helper = int(server.stdout.readline())
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{helper}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{helper}").exists(), "the helper outlived its server"
    finally:
        server.kill()
