"""Plugin nodes in the editor: a server over a base folder whose ``custom_nodes/`` holds
ComfyUI packs (one of them broken). The editor says which pack failed, a plugin node is found by
searching the palette, added, and run with Ctrl+Enter — driven with the mouse and keyboard
only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.support import copy_packs
from tests.web.conftest import PageErrors, Server, open_editor, screenshot, start_server

RUN_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("plugin-server")
    copy_packs(base, ["HalfBrokenPack", "SyntaxErrorPack"])
    server = start_server(base, packs=())
    yield server
    server.stop()


def canvas_point(page: Any, fx: float, fy: float) -> tuple[float, float]:
    box = page.locator("#graph-canvas").bounding_box()
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def completed_jobs(server: Server) -> list[dict[str, Any]]:
    return server.get("/api/jobs?status=completed")["jobs"]  # type: ignore[no-any-return]


def test_a_plugin_node_is_found_added_and_run(browser: Any, plugin_server: Server) -> None:
    assert "Import times for custom nodes:" in "".join(plugin_server.lines)
    errors = PageErrors()
    page = open_editor(browser, plugin_server.url, errors)
    panel = page.locator("#error-panel[data-kind=plugins]")
    panel.wait_for(timeout=10_000)
    assert "SyntaxErrorPack" in panel.inner_text()
    assert "BadInputs" in panel.inner_text()  # HalfBrokenPack's node left out
    page.click("#error-panel .close")
    page.mouse.click(*canvas_point(page, 0.5, 0.5))
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    for _ in range(3):  # litegraph times double clicks; a loaded machine may miss one
        page.mouse.dblclick(*canvas_point(page, 0.3, 0.3))
        try:
            page.wait_for_selector("#lg-palette-input", timeout=3_000)
            break
        except Exception:  # noqa: BLE001 (playwright's TimeoutError)
            continue
    page.fill("#lg-palette-input", "GoodNode")
    first = page.locator("#lg-palette-list li").first
    assert first.get_attribute("data-type") == "GoodNode"
    page.press("#lg-palette-input", "Enter")
    page.wait_for_selector("#lg-palette-input", state="detached")
    before = len(completed_jobs(plugin_server))
    page.mouse.click(*canvas_point(page, 0.8, 0.8))
    page.keyboard.press("Control+Enter")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(completed_jobs(plugin_server)) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    jobs = completed_jobs(plugin_server)
    assert len(jobs) == before + 1, plugin_server.lines[-20:]
    job = plugin_server.get(f"/api/jobs/{jobs[0]['id']}")
    prompt = job["workflow"]["prompt"]
    assert [n["class_type"] for n in prompt.values()] == ["GoodNode"]
    assert list(job["outputs"].values()) == [{"text": ["ok"]}]
    page.wait_for_selector("#history-list li.completed", timeout=10_000)
    screenshot(page, "editor-plugin-node.png")
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_the_plugins_route_lists_the_packs(plugin_server: Server, tmp_path: Path) -> None:
    packs = {p["name"]: p for p in plugin_server.get("/api/plugins")["packs"]}
    assert packs["HalfBrokenPack"]["status"] == "loaded"
    assert packs["SyntaxErrorPack"]["status"] == "failed"
    info = plugin_server.get("/api/object_info/GoodNode")
    assert info["GoodNode"]["python_module"] == "custom_nodes.HalfBrokenPack"
