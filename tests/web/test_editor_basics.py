"""Editing without running: the default graph, palette, typed sockets, undo/redo, copy/paste,
groups, files (UI v0.4, API format, unknown types and subgraphs), uploads, extensions,
untrusted text, the shortcuts help."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from tests.server.stub_pack import png_bytes
from tests.web.conftest import PageErrors, Server, open_editor, screenshot
from tests.web.helpers import (
    DEFAULT_TYPES,
    add_node,
    click_title,
    click_widget,
    drag,
    drop_file,
    empty_spot,
    intercept_queue,
    node_point,
    node_types,
    open_json,
    open_palette,
    set_widget,
    slot_point,
    snapshot,
    title_point,
)

XSS = '<img src=x onerror="window.__xss=1">'
IN_VIEW = """() => { const c = lgEditor.canvas;  // [nodes shown whole, nodes shown at all]
  c.ds.computeVisibleArea(c.viewport); const [x, y, w, h] = c.visible_area;
  const nodes = lgEditor.graph._nodes;
  return [nodes.filter((n) => n.pos[0] >= x && n.pos[1] >= y &&
    n.pos[0] + n.size[0] <= x + w && n.pos[1] + n.size[1] <= y + h).length,
    nodes.filter((n) => n.pos[0] < x + w && n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT < y + h
      && n.pos[0] + n.size[0] > x && n.pos[1] + n.size[1] > y).length]; }"""


def test_default_graph_matches_what_the_server_offers(page: Any, server: Server) -> None:
    offered = server.get("/api/object_info")
    workflow = snapshot(page)
    assert node_types(workflow) == DEFAULT_TYPES
    assert len(workflow["links"]) == 9
    flags = page.evaluate("""() => Object.fromEntries(lgEditor.graph._nodes.map(
      (n) => [String(n.id), Boolean(n.lgMissing)]))""")
    for node in workflow["nodes"]:  # flagged as unknown exactly when the server lacks it
        assert flags[str(node["id"])] == (node["type"] not in offered), node["type"]
    ckpt = next(n for n in workflow["nodes"] if n["type"] == "CheckpointLoaderSimple")
    if "CheckpointLoaderSimple" in offered:
        assert ckpt["widgets_values"] == ["latentgraph-shapes-v1.safetensors"]  # embedded, listed
    assert page.locator("#workflow-title").text_content() == "Default workflow"
    screenshot(page, "editor-rest.png")


def test_widgets_follow_the_definitions(page: Any) -> None:
    widgets = page.evaluate("""() => Object.fromEntries(lgEditor.getNode(3).widgets.map(
      (w) => [w.name, {type: w.type, values: w.options?.values ?? null,
                        min: String(w.options?.min), max: String(w.options?.max)}]))""")
    assert widgets["seed"]["type"] == "int" and widgets["seed"]["max"] == str(2**64 - 1)
    assert widgets["cfg"]["type"] == "number"
    assert widgets["sampler_name"]["type"] == "combo" and "euler" in widgets["sampler_name"][
        "values"]
    assert widgets["control_after_generate"]["values"] == ["fixed", "increment", "decrement",
                                                           "randomize"]
    assert page.evaluate("() => lgEditor.getNode(6).widgets[0].type") == "textarea"
    # a widget converts to an input: an INT link into the seed's widget slot disables it
    converted = page.evaluate("""() => {
      const ks = lgEditor.getNode(3);
      const slot = ks.inputs.findIndex((i) => i.widget?.name === "steps");
      return {slot, type: ks.inputs[slot].type};
    }""")
    assert converted["slot"] >= 0 and converted["type"] == "INT"
    source = add_node(page, "IntValue", "IntValue", room=(240, 120))  # the palette
    drag(page, slot_point(page, source, False, 0), slot_point(page, 3, True, converted["slot"]))
    page.wait_for_function("""([id, slot]) => lgEditor.graph._links.get(
      lgEditor.getNode(3).inputs[slot].link)?.origin_id === id""", arg=[source, converted["slot"]])
    page.wait_for_function("""() => lgEditor.getNode(3).widgets.find((w) => w.name === "steps")
      .computedDisabled === true""")  # the widget shows it is driven by the link
    queued = intercept_queue(page)
    page.click("#queue-button")
    page.wait_for_function("() => lgEditor.lastPromptId === 'intercepted-1'")
    assert queued[0]["prompt"]["3"]["inputs"]["steps"] == [str(source), 0]  # the link


def test_box_select_with_ctrl_drag_selects_several_nodes(page: Any) -> None:
    corners = page.evaluate("""() => {
      const a = lgEditor.getNode(6), b = lgEditor.getNode(5);
      return [lgEditor.screenPos(a.pos[0] - 20, a.pos[1] - 50),
              lgEditor.screenPos(b.pos[0] + b.size[0] + 20, b.pos[1] + b.size[1] + 20)];
    }""")
    (x0, y0), (x1, y1) = corners
    page.keyboard.down("Control")
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
    page.keyboard.up("Control")
    selected = page.evaluate("() => Object.keys(lgEditor.canvas.selected_nodes).sort()")
    assert {"5", "6", "7"} <= set(selected)


def test_palette_search_adds_a_node_and_sockets_are_type_checked(page: Any) -> None:
    node = add_node(page, "vae decode", "VAEDecode", room=(240, 120))  # first match: VAEDecode
    links = len(snapshot(page)["links"])
    drag(page, slot_point(page, 4, False, 0), slot_point(page, node, True, 0))  # MODEL→LATENT
    page.wait_for_function("() => !lgEditor.canvas.linkConnector.isConnecting")
    drag(page, slot_point(page, 4, False, 2), slot_point(page, node, True, 1))  # VAE→vae
    page.wait_for_function("(id) => lgEditor.getNode(id).inputs[1].link !== null", arg=node)
    workflow = snapshot(page)
    added = next(n for n in workflow["nodes"] if n["id"] == node)
    assert added["type"] == "VAEDecode"
    assert added["inputs"][0]["link"] is None  # the wrong type was refused
    assert len(workflow["links"]) == links + 1  # the right one accepted: the only new link
    vae = next(link for link in workflow["links"] if link[0] == added["inputs"][1]["link"])
    assert vae[1:5] == [4, 2, node, 1]


def test_undo_restores_a_deleted_node(page: Any) -> None:
    before = snapshot(page)
    click_title(page, 5)
    assert page.evaluate("() => Object.keys(lgEditor.canvas.selected_nodes)") == ["5"]
    page.keyboard.press("Delete")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 6")
    assert page.evaluate("() => lgEditor.getNode(5)") is None
    page.keyboard.press("Control+z")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 7")
    after = snapshot(page)
    assert after["nodes"] == before["nodes"] and after["links"] == before["links"]
    page.keyboard.press("Control+y")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 6")
    page.click("#undo-button")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 7")


def test_copy_paste_keeps_links_between_copied_nodes_and_groups(page: Any) -> None:
    before = {n["id"] for n in snapshot(page)["nodes"]}
    click_title(page, 4)  # select two nodes with the mouse, copy, paste where the pointer is
    page.keyboard.down("Shift")
    page.mouse.click(*title_point(page, 6))
    page.keyboard.up("Shift")
    assert page.evaluate("() => Object.keys(lgEditor.canvas.selected_nodes).sort()") == [
        "4", "6"]
    page.keyboard.press("Control+c")
    page.mouse.move(*empty_spot(page))
    page.keyboard.press("Control+v")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 9")
    workflow = snapshot(page)
    pasted = {n["id"]: n for n in workflow["nodes"] if n["id"] not in before}
    assert len(workflow["nodes"]) == 9 and len(pasted) == 2
    enc = next(n for n in pasted.values() if n["type"] == "CLIPTextEncode")
    link = next(link for link in workflow["links"] if link[0] == enc["inputs"][0]["link"])
    assert link[1] in pasted  # linked to the pasted checkpoint loader, not the original
    assert enc["widgets_values"][0].startswith("a large red circle")
    page.keyboard.press("Control+g")
    groups = snapshot(page)["groups"]
    assert len(groups) == 1 and groups[0]["bounding"][2] > 100


def test_untrusted_text_is_rendered_as_text(page: Any) -> None:
    workflow = snapshot(page)
    workflow["nodes"][0]["title"] = XSS
    workflow["nodes"].append({"id": 20, "type": XSS, "pos": [0, 0], "size": [200, 80],
                              "flags": {}, "order": 7, "mode": 0, "properties": {}})
    workflow["groups"] = [{"id": 1, "title": XSS, "bounding": [0, 0, 300, 300]}]
    page.set_input_files("#open-file", files=[{
        "name": f"{XSS}.json", "mimeType": "application/json",
        "buffer": json.dumps(workflow).encode()}])
    page.wait_for_function("() => lgEditor.graph._nodes.length === 8")
    assert page.locator("#workflow-title").text_content() == XSS
    assert XSS in page.locator("#error-panel").text_content()  # the unknown type, as text
    node = page.evaluate("() => lgEditor.graph._nodes[0].id")
    x, y = page.evaluate("""(id) => { const n = lgEditor.getNode(id);
      return lgEditor.screenPos(n.pos[0] + 30, n.pos[1] - 10); }""", node)
    page.mouse.click(x, y, button="right")  # litegraph's context menu shows the title
    page.wait_for_selector(".litecontextmenu")
    page.keyboard.press("Escape")  # Escape closes it
    page.wait_for_selector(".litecontextmenu", state="detached")
    open_palette(page)  # the palette lists definitions as text
    page.keyboard.press("Escape")
    page.wait_for_timeout(100)
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("() => window.__xss") is None
    screenshot(page, "editor-untrusted-text.png")


def test_unknown_nodes_and_subgraphs_are_kept_and_saved_back_unchanged(page: Any) -> None:
    subgraph_id = "4e6f3a3c-0000-4000-8000-000000000001"
    unknown = {"id": 30, "type": "SomePluginNode", "pos": [10, 20], "size": [220, 90],
               "flags": {}, "order": 0, "mode": 0, "inputs": [], "outputs": [
                   {"name": "OUT", "type": "WHATEVER", "links": None}],
               "properties": {"cnr_id": "plugin"}, "widgets_values": [1, "two", {"x": 3}]}
    instance = {"id": 31, "type": subgraph_id, "pos": [300, 20], "size": [220, 60],
                "flags": {}, "order": 1, "mode": 0, "inputs": [], "outputs": [],
                "properties": {}, "widgets_values": []}
    workflow = {"last_node_id": 31, "last_link_id": 0, "nodes": [unknown, instance],
                "links": [],
                "groups": [], "config": {}, "extra": {}, "version": 0.4,
                "definitions": {"subgraphs": [{
                    "id": subgraph_id, "version": 1, "state": {}, "revision": 0,
                    "config": {}, "name": "inner", "inputNode": {"id": -10, "bounding":
                                                                  [0, 0, 75, 100]},
                    "outputNode": {"id": -20, "bounding": [400, 0, 75, 100]},
                    "inputs": [], "outputs": [], "widgets": [], "nodes": [], "links": [],
                    "groups": []}]}}
    open_json(page, workflow, "plugin.json")
    saved = snapshot(page)
    assert saved["nodes"] == [unknown, instance]
    assert saved["definitions"] == workflow["definitions"]
    assert page.evaluate("() => lgEditor.graph._nodes[0].lgMissing") == "SomePluginNode"
    page.click("#queue-button")  # refused in the editor, with the reason
    page.wait_for_function("() => document.querySelector('#error-panel').textContent"
                           ".includes('SomePluginNode')")


def test_api_format_file_opens_and_save_round_trips(page: Any, tmp_path: Path) -> None:
    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                           "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "hi", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 2**64 - 2, "steps": 3, "cfg": 7.5, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1, "model": ["4", 0], "positive": ["6", 0],
            "negative": ["6", 0], "latent_image": ["5", 0]}},
    }
    page.set_input_files("#open-file", files=[{
        "name": "api.json", "mimeType": "application/json", "buffer": json.dumps(prompt).encode()}])
    page.wait_for_function("() => lgEditor.graph._nodes.length === 4")
    queued = intercept_queue(page)  # queued as converted by the server: the same prompt
    page.click("#queue-button")
    page.wait_for_function("() => lgEditor.lastPromptId === 'intercepted-1'")
    back = queued[0]["prompt"]
    for node_id, entry in prompt.items():
        assert back[node_id]["class_type"] == entry["class_type"]
        assert back[node_id]["inputs"] == entry["inputs"]
    with page.expect_download() as info:
        page.keyboard.press("Control+s")
    path = tmp_path / "saved.json"
    info.value.save_as(path)
    text = path.read_text()
    assert str(2**64 - 2) in text  # written as a JSON number, exact
    saved = json.loads(text)
    assert saved["version"] == 0.4 and len(saved["nodes"]) == 4


def test_image_upload_into_load_image_shows_a_thumbnail(page: Any, server: Server) -> None:
    # added as a person does (palette), where it shows whole: its body and upload button
    node = add_node(page, "Load Image", "LoadImage", room=(240, 140))
    drop_file(page, node_point(page, node, 20, 20), "dropped.png", "image/png",
              png_bytes(size=32))  # an image dropped on the node's body uploads into it
    page.wait_for_function("""(id) => lgEditor.run.images.get(String(id))?.[0]?.naturalWidth
      === 32""", arg=node)
    value = page.evaluate("(id) => lgEditor.getNode(id).widgets[0].value", node)
    assert value == "dropped.png"
    assert server.read("/api/view?filename=dropped.png&type=input") == png_bytes(size=32)
    with page.expect_file_chooser() as chooser:  # the button opens a file picker
        click_widget(page, node, "upload")
    chooser.value.set_files(files=[{"name": "picked.png", "mimeType": "image/png",
                                    "buffer": png_bytes((0, 0, 255, 255), size=16)}])
    page.wait_for_function("""(id) => lgEditor.getNode(id).widgets[0].value === "picked.png"
      && lgEditor.run.images.get(String(id))?.[0]?.naturalWidth === 16""", arg=node)


def test_plugin_extensions_are_loaded(browser: Any, server: Server) -> None:
    script = """
      window.lgEditor.registerExtension({
        name: "test.ext",
        setup(app) { window.__extSetup = Object.keys(app.defs).length; },
        nodeCreated(node) { window.__extNodes = (window.__extNodes ?? 0) + 1; },
      });"""

    def routes(page: Any) -> None:
        page.route("**/api/extensions", lambda route: route.fulfill(
            json=["/extensions/test/ext.js"]))
        page.route("**/extensions/test/ext.js", lambda route: route.fulfill(
            body=script, content_type="text/javascript"))

    errors = PageErrors()
    page = open_editor(browser, server.url, errors, setup=routes)
    assert page.evaluate("() => window.__extSetup") > 10
    assert page.evaluate("() => window.__extNodes") >= 7
    page.context.close()
    assert not errors


def test_shortcuts_help_and_fit_view(page: Any) -> None:
    page.mouse.click(300, 120)
    page.keyboard.press("?")
    page.wait_for_selector("#lg-help")
    assert "Ctrl+Enter" in page.locator("#lg-help").inner_text()
    page.keyboard.press("Escape")
    for _ in range(6):  # drag the empty canvas up until no node is in view
        if page.evaluate(IN_VIEW)[1] == 0:
            break
        x, y = empty_spot(page)
        top = page.evaluate("() => lgEditor.canvas.canvas.getBoundingClientRect().top")
        drag(page, (x, y), (x, top + 5))
    assert page.evaluate(IN_VIEW) == [0, 0]  # the view is off the graph
    page.keyboard.press(".")
    assert page.evaluate(IN_VIEW) == [7, 7]  # fitted: every node shows whole


def test_autosave_restores_the_graph_after_a_reload(page: Any) -> None:
    set_widget(page, 6, "text", "kept across reloads")  # typed into the prompt's text area
    page.wait_for_function("() => localStorage.getItem('lg.autosave')"
                           ".includes('kept across reloads')")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("() => lgEditor.getNode(6).widgets[0].value") == "kept across reloads"


def test_png_with_only_an_api_prompt_opens_as_a_graph(page: Any) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("prompt", json.dumps({
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                           "batch_size": 2}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["5", 0],
                                                    "filename_prefix": "x"}}}), zip=True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    page.set_input_files("#open-file", files=[{"name": "other-tool.png",
                                               "mimeType": "image/png",
                                               "buffer": buffer.getvalue()}])
    page.wait_for_function("() => lgEditor.graph._nodes.length === 2")
    workflow = snapshot(page)
    latent = next(n for n in workflow["nodes"] if n["type"] == "EmptyLatentImage")
    assert latent["widgets_values"] == [64, 64, 2]
    assert len(workflow["links"]) == 1
