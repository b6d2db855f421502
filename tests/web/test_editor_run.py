"""Queue and watch: edit the prompt and an exact 64-bit seed, queue with Ctrl+Enter, the
progress bar and running node, latent previews, the output image on SaveImage and in the
history, a PNG from the engine dropped back on the page, cancel, a validation error."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.web.conftest import PageErrors, Server, open_editor, screenshot
from tests.web.helpers import (
    MAX_SEED,
    RECORDER,
    click_widget,
    drag,
    drop_file,
    empty_spot,
    open_json,
    set_widget,
    slot_point,
    snapshot,
    title_point,
)

PROMPT = "a glass bottle on a beach, <b>not bold</b>"
RUN_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def txt2img(browser: Any, server: Server) -> Iterator[dict[str, Any]]:
    """The default workflow, made small, edited through the UI and queued once."""
    errors = PageErrors()
    page = open_editor(browser, server.url, errors)
    result: dict[str, Any] = {"page": page, "errors": errors}
    set_widget(page, 5, "width", 64)
    set_widget(page, 5, "height", 64)
    set_widget(page, 3, "steps", 6)
    set_widget(page, 3, "control_after_generate", "decrement")
    click_widget(page, 6, "text")  # the multiline prompt opens a text area
    page.fill("#lg-prompt textarea", PROMPT)
    page.click("#lg-prompt .lg-ok")
    click_widget(page, 3, "seed")  # the middle of the seed widget opens a value prompt
    page.fill("#lg-prompt input", str(MAX_SEED))
    page.press("#lg-prompt input", "Enter")
    result["queued_workflow"] = snapshot(page)
    result["sampler_size"] = page.evaluate("() => [...lgEditor.getNode(3).size]")
    page.evaluate(RECORDER)
    page.mouse.click(300, 120)  # focus the canvas (empty area)
    started = time.monotonic()
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => window.__seen.progress.length >= 2", timeout=RUN_TIMEOUT_MS)
    screenshot(page, "editor-running.png")
    page.wait_for_function(
        "() => lgEditor.run.images.get('9')?.[0]?.naturalWidth > 0", timeout=RUN_TIMEOUT_MS)
    result["seconds"] = time.monotonic() - started
    result["prompt_id"] = page.evaluate("() => lgEditor.lastPromptId")
    page.wait_for_selector("#history-list li img", timeout=10_000)
    page.wait_for_function("() => document.body.dataset.running === 'false'")
    screenshot(page, "editor-done.png")
    result["seen"] = page.evaluate("() => window.__seen")
    result["status_after"] = page.locator("#status-text").text_content()
    result["sampler_size_after"] = page.evaluate("() => [...lgEditor.getNode(3).size]")
    yield result
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_queue_runs_the_edited_prompt_with_the_exact_seed(txt2img: dict[str, Any],
                                                         server: Server) -> None:
    job = server.get(f"/api/jobs/{txt2img['prompt_id']}")
    assert job["status"] == "completed", job
    prompt = job["workflow"]["prompt"]
    assert prompt["6"]["inputs"]["text"] == PROMPT
    assert prompt["3"]["inputs"]["seed"] == MAX_SEED  # exact: 18446744073709551615
    # control-after-generate ("decrement") applied after queueing, still exact
    page = txt2img["page"]
    assert page.evaluate("() => String(lgEditor.getNode(3).widgets[0].value)") == \
        str(MAX_SEED - 1)
    # the workflow stored with the job is the one in the editor when it was queued
    saved = job["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]
    assert [n.get("widgets_values") for n in saved["nodes"]] == \
        [n.get("widgets_values") for n in txt2img["queued_workflow"]["nodes"]]


def test_progress_bar_moves_and_running_node_is_highlighted(txt2img: dict[str, Any]) -> None:
    seen = txt2img["seen"]
    assert len(set(seen["progress"])) >= 3, seen
    widths = [float(w.rstrip("%")) for w in seen["widths"] if w]
    assert len({w for w in widths if 0 < w < 100}) >= 2, widths
    assert "3" in seen["runningNodes"]  # the KSampler was shown running
    assert seen["previews"] >= 1  # latent previews arrived as binary frames


def test_the_editor_asks_for_previews_as_comfyuis_frontend_does(txt2img: dict[str, Any],
                                                               server: Server) -> None:
    # the server sends none unless a prompt asks (or it runs with --preview-method)
    job = server.get(f"/api/jobs/{txt2img['prompt_id']}")
    assert job["workflow"]["extra_data"]["preview_method"] == "auto"


def test_loading_shows_before_the_first_step_and_ends_cleanly(txt2img: dict[str, Any]) -> None:
    phases = txt2img["seen"]["phases"]
    # executing a node with no step yet (loading): the bar's moving stripe, then steps
    assert any(phase == "loading" and node for phase, node in phases), phases
    loading = phases.index(next(p for p in phases if p[0] == "loading" and p[1]))
    assert ["stepping", "3"] in phases[loading:], phases
    assert phases[-1][0] == "idle"
    assert txt2img["status_after"] == ""  # "queued …" cleared when the run ended
    # the sampler grew to show previews and is given its size back afterwards
    assert txt2img["seen"]["previews"] >= 1
    assert txt2img["sampler_size_after"] == txt2img["sampler_size"]


def test_image_menu_opens_saves_and_copies_the_output(txt2img: dict[str, Any],
                                                      server: Server) -> None:
    page = txt2img["page"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    job = server.get(f"/api/jobs/{txt2img['prompt_id']}")
    filename = job["outputs"]["9"]["images"][0]["filename"]
    expected = server.read(f"/api/view?filename={filename}&type=output")

    def menu_entry(label: str) -> Any:
        page.mouse.click(*title_point(page, 9), button="right")
        entry = page.locator(".litecontextmenu .litemenu-entry", has_text=label).first
        entry.wait_for()
        return entry

    with page.expect_download() as download:
        menu_entry("Save Image").click()
    assert download.value.suggested_filename == filename
    assert Path(download.value.path()).read_bytes() == expected
    with page.context.expect_page() as opened:
        menu_entry("Open Image").click()
    assert "/api/view?" in opened.value.url and filename in opened.value.url
    opened.value.close()
    menu_entry("Copy Image").click()
    page.wait_for_function("() => document.getElementById('status-text').textContent"
                           " === 'image copied'")
    copied = page.evaluate("""async () => {
      const [item] = await navigator.clipboard.read();
      const blob = await item.getType("image/png");
      return Array.from(new Uint8Array(await blob.arrayBuffer()));
    }""")
    assert Image.open(io.BytesIO(bytes(copied))).size == Image.open(io.BytesIO(expected)).size


def test_output_image_on_save_node_and_in_history(txt2img: dict[str, Any]) -> None:
    page = txt2img["page"]
    src = page.evaluate("() => lgEditor.run.images.get('9')[0].src")
    assert "/api/view?" in src and "type=output" in src
    assert page.locator("#history-list li.completed img").count() >= 1


def test_png_from_the_engine_dropped_on_the_page_restores_the_graph(
        txt2img: dict[str, Any], server: Server) -> None:
    job = server.get(f"/api/jobs/{txt2img['prompt_id']}")
    image = job["outputs"]["9"]["images"][0]
    data = server.read(f"/api/view?filename={image['filename']}&type=output")
    embedded = json.loads(Image.open(io.BytesIO(data)).text["workflow"])
    page = txt2img["page"]
    page.mouse.click(*empty_spot(page))  # the canvas focused: select all, delete
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 0")
    drop_file(page, empty_spot(page), "result.png", "image/png", data)
    page.wait_for_function("() => lgEditor.graph._nodes.length === 7")
    restored = snapshot(page)
    key = lambda n: n["id"]  # noqa: E731
    for mine, theirs in zip(sorted(restored["nodes"], key=key),
                            sorted(embedded["nodes"], key=key), strict=True):
        assert (mine["type"], mine.get("widgets_values"), mine["pos"]) == \
            (theirs["type"], theirs.get("widgets_values"), theirs["pos"])
    assert sorted(map(tuple, restored["links"])) == sorted(map(tuple, embedded["links"]))
    assert embedded["nodes"][0] is not None
    seeds = [n["widgets_values"][0] for n in restored["nodes"] if n["type"] == "KSampler"]
    assert seeds == [MAX_SEED]
    assert page.locator("#workflow-title").text_content() == "result"


def test_cancel_stops_a_running_job(page: Any, server: Server) -> None:
    open_json(page, {"1": {"class_type": "Sleep", "inputs": {"ms": 30000, "n": 7}},
                     "2": {"class_type": "Shout", "inputs": {"value": ["1", 0]}}},
              "sleepy.json")
    page.click("#queue-button")
    page.wait_for_selector("#queue-list li.in_progress button.cancel", timeout=20_000)
    prompt_id = page.evaluate("() => lgEditor.lastPromptId")
    started = time.monotonic()
    page.click("#queue-list li.in_progress button.cancel")
    page.wait_for_function("() => document.body.dataset.running === 'false'", timeout=15_000)
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 10
    while server.get(f"/api/jobs/{prompt_id}")["status"] != "cancelled":
        assert time.monotonic() < deadline, server.get(f"/api/jobs/{prompt_id}")
        time.sleep(0.1)
    page.wait_for_function("() => !document.querySelector('#queue-list li.in_progress')")


def test_cancel_a_pending_job(page: Any, server: Server) -> None:
    open_json(page, {"1": {"class_type": "Sleep", "inputs": {"ms": 30000, "n": 8}},
                     "2": {"class_type": "Shout", "inputs": {"value": ["1", 0]}}},
              "sleepy.json")
    page.fill("#batch-count", "2")
    page.click("#queue-button")
    page.wait_for_selector("#queue-list li.pending button.cancel", timeout=20_000)
    pending = page.locator("#queue-list li.pending").first.get_attribute("data-id")
    page.click("#queue-list li.pending button.cancel")
    page.wait_for_function("() => !document.querySelector('#queue-list li.pending')")
    assert server.get(f"/api/jobs/{pending}")["status"] == "cancelled"
    page.click("#cancel-button")  # the toolbar button cancels the running one
    page.wait_for_function("() => !document.querySelector('#queue-list li')", timeout=15_000)


def test_broken_link_outlines_the_node_with_its_message(page: Any) -> None:
    drag(page, slot_point(page, 8, True, 0), empty_spot(page))  # the link dragged off
    page.wait_for_function("() => lgEditor.getNode(8).inputs[0].link === null")
    page.click("#queue-button")
    page.wait_for_selector("#error-panel[data-kind=validation]")
    text = page.locator("#error-panel").inner_text()
    assert "#8" in text and "samples" in text
    state = page.evaluate("""() => ({flag: lgEditor.getNode(8).has_errors,
      errors: lgEditor.run.nodeErrors.get("8")})""")
    assert state["flag"] is True
    assert state["errors"][0]["input"] == "samples" and state["errors"][0]["message"]
    screenshot(page, "editor-validation.png")
    page.keyboard.press("Control+z")  # the link comes back; errors clear on the next queue
    page.wait_for_function("() => lgEditor.getNode(8).inputs[0].link !== null")


def test_second_run_marks_cached_nodes(txt2img: dict[str, Any]) -> None:
    page = txt2img["page"]
    set_widget(page, 3, "seed", 12345)  # a new seed: only the sampler and what follows run
    page.click("#queue-button")
    page.wait_for_function("() => lgEditor.run.cached.has('4')", timeout=RUN_TIMEOUT_MS)
    page.wait_for_function("() => document.body.dataset.running === 'false'",
                           timeout=RUN_TIMEOUT_MS)
    cached = page.evaluate("() => [...lgEditor.run.cached].sort()")
    assert {"4", "5", "6", "7"} <= set(cached) and "3" not in cached


def test_execution_error_shows_node_message_and_a_folded_traceback(page: Any) -> None:
    message = "<img src=x onerror=\"window.__xss=1\"> went wrong"
    open_json(page, {"1": {"class_type": "Boom", "inputs": {"message": message}}}, "boom.json")
    page.click("#queue-button")
    page.wait_for_selector("#error-panel[data-kind=execution]", timeout=20_000)
    panel = page.locator("#error-panel")
    assert "#1" in panel.locator("h3").inner_text()
    assert message in panel.locator("p.lg-error").inner_text()
    details = panel.locator("details")
    assert details.get_attribute("open") is None  # folded until asked for
    details.locator("summary").click()
    assert "RuntimeError" in details.locator("pre").inner_text() or \
        "Traceback" in details.locator("summary").inner_text()
    assert page.evaluate("() => lgEditor.getNode(1).has_errors") is True
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("() => window.__xss") is None
