"""Node packs' front-end files: listed by /extensions and served contained in their folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from latentgraph.cli_serve import load_node_packs
from nodes.api import Registry
from tests.server.conftest import ClientFactory, make_app, make_settings

pytestmark = pytest.mark.asyncio


@pytest.fixture
def pack_registry(registry: Registry) -> Registry:
    load_node_packs(registry, ["tests.server.ext_pack:register"])
    return registry


async def test_extensions_are_listed_and_served(aiohttp_client: ClientFactory,
                                                pack_registry: Registry,
                                                tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(make_app(pack_registry, make_settings(tmp_path)))
    listed = await (await client.get("/api/extensions")).json()
    assert listed == ["/extensions/ext_pack/main.js", "/extensions/ext_pack/sub/more.js"]
    script = await client.get("/extensions/ext_pack/main.js")
    assert script.status == 200 and "ext" in await script.text()
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    for bad in ("/extensions/ext_pack/page.html", "/extensions/ext_pack/../__init__.py",
                "/extensions/ext_pack/%2e%2e/__init__.js", "/extensions/nope/main.js",
                "/extensions/ext_pack/missing.js"):
        assert (await client.get(bad)).status == 404, bad


async def test_registry_refuses_bad_web_directories(tmp_path: Path) -> None:
    registry = Registry()
    with pytest.raises(ValueError, match="must match"):
        registry.register_web_directory("../x", tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        registry.register_web_directory("pack", tmp_path / "missing")
    registry.register_web_directory("pack", tmp_path)
    assert registry.web_directories() == {"pack": tmp_path.resolve()}
