"""The editor-only node types (Note, MarkdownNote, PrimitiveNode, Reroute): an official ComfyUI
template that uses them opens, is edited through its primitives and runs on the test server;
a Primitive and a Reroute added from the palette and wired with the mouse convert as the
server's converter does (the editor has no converter of its own)."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from typing import Any

from tests.web.conftest import Server, screenshot
from tests.web.helpers import (
    autosaved,
    drag,
    intercept_queue,
    open_palette,
    slot_point,
    title_point,
    widget_arrow,
)

TEMPLATE = "sdxl_simple_example.json"  # Notes, a MarkdownNote, four PrimitiveNodes
RUN_TIMEOUT_MS = 180_000
VIRTUAL = {"Note", "MarkdownNote", "PrimitiveNode", "Reroute"}


def template() -> bytes:
    folder = resources.files("comfyui_workflow_templates_json") / "templates"
    return (folder / TEMPLATE).read_bytes()


def show_node(page: Any, node_id: int) -> None:
    """Centre the view on a node (the view only; nothing in the graph changes)."""
    page.evaluate("""(id) => { lgEditor.canvas.ds.scale = 1;
      lgEditor.canvas.centerOnNode(lgEditor.getNode(id)); lgEditor.canvas.draw(true, true); }""",
                  node_id)


def type_into_widget(page: Any, node_id: int, name: str, value: str) -> None:
    """Click the middle of a widget (a value prompt opens), type, Enter."""
    show_node(page, node_id)
    x, y = page.evaluate("([id, name]) => lgEditor.widgetScreenPos(id, name)", [node_id, name])
    page.mouse.click(x, y)
    page.fill("#lg-prompt .lg-prompt-value", value)  # a field, or a text area for multiline
    page.click("#lg-prompt .lg-ok")
    page.wait_for_selector("#lg-prompt", state="detached")


def widget_values(page: Any, node_id: int) -> dict[str, Any]:
    return page.evaluate("""(id) => Object.fromEntries(lgEditor.getNode(id).widgets.map(
      (w) => [w.name, typeof w.value === "bigint" ? String(w.value) : w.value]))""", node_id)


def test_official_template_with_notes_and_primitives_opens_and_runs(page: Any,
                                                                     server: Server) -> None:
    folder = server.base / "models" / "checkpoints"  # the template's model names, tiny weights
    for name in ("sd_xl_base_1.0.safetensors", "sd_xl_refiner_1.0.safetensors"):
        if not (folder / name).exists():
            shutil.copy(folder / "tiny.safetensors", folder / name)
    saved = json.loads(template())
    page.set_input_files("#open-file", files=[{"name": TEMPLATE, "mimeType": "application/json",
                                               "buffer": template()}])
    page.wait_for_function("() => document.title.startsWith('sdxl_simple_example')")
    assert page.locator("#error-panel").is_hidden()  # no "unknown node types"
    assert len(autosaved(page)["workflow"]["nodes"]) == len(saved["nodes"]) == 25
    notes = {n["id"]: n["widgets_values"][0] for n in saved["nodes"]
             if n["type"] in ("Note", "MarkdownNote")}
    for node_id, text in notes.items():  # each note shows its text
        assert widget_values(page, node_id)["text"] == text
    # The primitives hold the values they feed: text prompts, total and switch-over steps.
    assert widget_values(page, 51)["value"] == widget_values(page, 6)["text"]
    assert widget_values(page, 45) == {"value": 25, "control_after_generate": "fixed"}
    show_node(page, 42)
    screenshot(page, "editor-template-note.png")

    # Made small enough to run here, as a person would: typed into widgets and primitives.
    type_into_widget(page, 5, "width", "64")
    type_into_widget(page, 5, "height", "64")
    type_into_widget(page, 45, "value", "3")  # total steps, into both samplers
    type_into_widget(page, 47, "value", "2")  # the base sampler's last step
    assert widget_values(page, 10)["steps"] == widget_values(page, 11)["steps"] == 3
    assert widget_values(page, 10)["end_at_step"] == widget_values(page, 11)["start_at_step"] == 2
    type_into_widget(page, 51, "value", "a small red circle")
    assert widget_values(page, 6)["text"] == widget_values(page, 15)["text"] == "a small red circle"

    with page.expect_request("**/api/workflow/convert") as converting, \
            page.expect_response("**/api/prompt") as queueing:
        page.click("#queue-button")
    sent = json.loads(converting.value.post_data)["workflow"]
    assert {n["type"] for n in sent["nodes"]} >= VIRTUAL - {"Reroute"}  # the UI workflow
    reply = queueing.value
    assert reply.status == 200, reply.text()
    prompt_id = reply.json()["prompt_id"]
    body = json.loads(queueing.value.request.post_data)
    prompt = body["prompt"]  # the server's conversion, queued as ComfyUI's frontend does
    assert not VIRTUAL & {e["class_type"] for e in prompt.values()}
    assert set(prompt) == {str(n["id"]) for n in saved["nodes"] if n["type"] not in VIRTUAL}
    assert prompt["6"]["inputs"]["text"] == prompt["15"]["inputs"]["text"] == "a small red circle"
    assert prompt["10"]["inputs"]["steps"] == prompt["11"]["inputs"]["steps"] == 3
    assert prompt["10"]["inputs"]["end_at_step"] == prompt["11"]["inputs"]["start_at_step"] == 2
    assert prompt["10"]["inputs"]["noise_seed"] == 721897303308196
    assert prompt["5"]["inputs"]["width"] == 64
    assert body["extra_data"]["extra_pnginfo"]["workflow"]["nodes"]

    page.wait_for_function("() => lgEditor.run.images.get('19')?.[0]?.naturalWidth > 0",
                           timeout=RUN_TIMEOUT_MS)
    assert server.get(f"/api/jobs/{prompt_id}")["status"] == "completed"
    show_node(page, 19)
    screenshot(page, "editor-template-ran.png")


def add_from_palette(page: Any, query: str, count: int) -> int:
    open_palette(page)
    page.fill("#lg-palette-input", query)
    page.press("#lg-palette-input", "Enter")
    page.wait_for_function("(n) => lgEditor.graph._nodes.length === n", arg=count)
    node_id: int = page.evaluate("() => lgEditor.graph._nodes.at(-1).id")
    return node_id


def test_primitive_and_reroute_from_the_palette_convert_on_the_server(page: Any) -> None:
    queued = intercept_queue(page)
    primitive = add_from_palette(page, "primitive", 8)
    start = title_point(page, primitive)  # out of the corner it was put in, to empty space
    drag(page, start, (start[0] + 80, start[1] - 620))
    x, y = page.evaluate("([id, name]) => lgEditor.widgetScreenPos(id, name)", [3, "steps"])
    drag(page, slot_point(page, primitive, False, 0), (x, y))  # its output onto "steps"
    page.wait_for_function("(id) => lgEditor.getNode(id).widgets?.length === 2", arg=primitive)
    assert widget_values(page, primitive) == {"value": 20, "control_after_generate": "fixed"}
    page.mouse.click(*widget_arrow(page, primitive, "value"))  # 20 → 21, into the sampler
    assert widget_values(page, primitive)["value"] == 21
    assert widget_values(page, 3)["steps"] == 21

    reroute = add_from_palette(page, "reroute", 9)
    drag(page, slot_point(page, 4, False, 2), slot_point(page, reroute, True, 0))  # VAE in
    drag(page, slot_point(page, reroute, False, 0), slot_point(page, 8, True, 1))  # VAE out
    page.wait_for_timeout(100)
    saved = autosaved(page)["workflow"]
    links = {tuple(link[1:6]) for link in saved["links"]}
    assert (4, 2, reroute, 0, "VAE") in links and (reroute, 0, 8, 1, "VAE") in links
    screenshot(page, "editor-primitive-reroute.png")

    page.keyboard.press("Control+z")  # the two reroute links were one step each
    page.keyboard.press("Control+z")
    page.wait_for_timeout(100)
    links = {tuple(link[1:5]) for link in autosaved(page)["workflow"]["links"]}
    assert (4, 2, 8, 1) in links and not any(reroute in (a, c) for a, _, c, _ in links)
    page.keyboard.press("Control+y")
    page.keyboard.press("Control+y")

    page.click("#queue-button")
    page.wait_for_function("() => lgEditor.lastPromptId === 'intercepted-1'")
    prompt = queued[0]["prompt"]
    assert prompt["3"]["inputs"]["steps"] == 21  # the primitive's value, as a constant
    assert prompt["8"]["inputs"]["vae"] == ["4", 2]  # through the reroute
    assert not VIRTUAL & {e["class_type"] for e in prompt.values()}
    assert len(prompt) == 7
