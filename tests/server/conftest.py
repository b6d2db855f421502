"""Fixtures for in-process server tests (pytest-aiohttp, stub nodes, a temp base folder)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from executor.cache import make_cache
from executor.engine import Engine
from nodes.api import Folders, Registry
from server.app import create_app
from server.settings import ServerSettings
from tests.server.stub_pack import server_registry

WAIT = 20.0  # a bound on any wait for a message, never a sleep


def make_settings(base: Path, **options: Any) -> ServerSettings:
    options.setdefault("preview_interval_s", 0.0)
    return ServerSettings.under(base, **options)


def make_app(registry: Registry, settings: ServerSettings) -> web.Application:
    folders = Folders(settings.input_dir, settings.output_dir, settings.temp_dir)
    engine = Engine(registry, make_cache("lru", max_entries=10_000), folders=folders)
    return create_app(engine, registry, settings)


@pytest.fixture
def registry() -> Registry:
    return server_registry()


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return make_settings(tmp_path)


ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest_asyncio.fixture
async def client(aiohttp_client: ClientFactory, registry: Registry,
                 settings: ServerSettings) -> TestClient:
    return await aiohttp_client(make_app(registry, settings))


async def next_json(ws: Any, timeout: float = WAIT) -> dict[str, Any]:
    """The next JSON message (binary frames are skipped)."""
    while True:
        message = await asyncio.wait_for(ws.receive(), timeout)
        if message.type.name == "TEXT":
            return message.json()
        if message.type.name != "BINARY":
            raise AssertionError(f"websocket ended: {message.type.name}")


async def messages_until(ws: Any, done: Callable[[dict[str, Any]], bool],
                         binary: list[bytes] | None = None) -> list[dict[str, Any]]:
    """JSON messages up to and including the first one for which ``done`` is true."""
    seen: list[dict[str, Any]] = []
    while True:
        message = await asyncio.wait_for(ws.receive(), WAIT)
        if message.type.name == "BINARY":
            if binary is not None:
                binary.append(message.data)
            continue
        if message.type.name != "TEXT":
            raise AssertionError(f"websocket ended: {message.type.name} after {seen}")
        seen.append(message.json())
        if done(seen[-1]):
            return seen


def is_end_of(prompt_id: str) -> Callable[[dict[str, Any]], bool]:
    def done(message: dict[str, Any]) -> bool:
        data = message.get("data", {})
        return message["type"] == "executing" and data.get("node") is None and \
            data.get("prompt_id") == prompt_id
    return done


async def connect(client: TestClient, client_id: str | None = None) -> tuple[Any, str]:
    """A websocket and its sid (from the first ``status`` message)."""
    path = "/ws" + (f"?clientId={client_id}" if client_id else "")
    ws = await client.ws_connect(path)
    first = await next_json(ws)
    assert first["type"] == "status"
    return ws, first["data"]["sid"]


async def queue_prompt(client: TestClient, prompt: dict[str, Any], client_id: str | None = None,
                       **extra: Any) -> dict[str, Any]:
    body = {"prompt": prompt, **extra}
    if client_id:
        body["client_id"] = client_id
    response = await client.post("/prompt", json=body)
    data = await response.json()
    assert response.status == 200, data
    return data
