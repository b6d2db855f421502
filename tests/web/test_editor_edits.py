"""Editing with the mouse and keyboard as a person does: every gesture is one undo step and is
autosaved; bypass and mute (keys and the node menu) change what is queued; Escape closes
dialogs, menus and the message panel; a saved view off the graph is fitted on load; the
"Convert to Subgraph" entry is not offered."""

from __future__ import annotations

import copy
from typing import Any

from tests.web.conftest import screenshot
from tests.web.helpers import (
    autosaved,
    click_widget,
    drag,
    intercept_queue,
    node_point,
    open_json,
    open_palette,
    slot_point,
    title_point,
    widget_arrow,
)


def node_of(workflow: dict[str, Any], node_id: int) -> dict[str, Any]:
    return next(n for n in workflow["nodes"] if n["id"] == node_id)


def nodes_of(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes by id, without ``order`` (litegraph's execution order, recomputed on load)."""
    return sorted(({k: v for k, v in n.items() if k != "order"} for n in workflow["nodes"]),
                  key=lambda n: n["id"])


def links_of(workflow: dict[str, Any]) -> set[tuple[Any, ...]]:
    """Links as (origin, slot, target, slot), ids left out (a new link gets a new id)."""
    return {tuple(link[1:5]) for link in workflow["links"]}


def steps_of(workflow: dict[str, Any]) -> int:
    return int(node_of(workflow, 3)["widgets_values"][2])  # seed, control, steps, …


def settle(page: Any) -> None:
    """Let the editor's coalesced checkpoint (a zero-delay timer) run."""
    page.wait_for_timeout(60)


def test_each_mouse_edit_is_one_undo_step_and_survives_a_reload(page: Any) -> None:
    original = autosaved(page)["workflow"]
    latent_pos = node_of(original, 5)["pos"]
    scale = page.evaluate("() => lgEditor.canvas.ds.scale")
    # 1. drag the Empty Latent Image node by its title
    start = title_point(page, 5)
    drag(page, start, (start[0] + 70, start[1] + 90))
    settle(page)
    moved = autosaved(page)["workflow"]
    x, y = node_of(moved, 5)["pos"]
    assert abs(x - (latent_pos[0] + 70 / scale)) < 1 and abs(y - (latent_pos[1] + 90 / scale)) < 1
    # 2. drag a link: Empty Latent Image's LATENT onto VAE Decode's samples (replacing
    #    KSampler's link there)
    drag(page, slot_point(page, 5, False, 0), slot_point(page, 8, True, 0))
    settle(page)
    linked = autosaved(page)["workflow"]
    assert (5, 0, 8, 0) in links_of(linked) and (3, 0, 8, 0) not in links_of(linked)
    # 3. click the steps widget's right arrow
    page.mouse.click(*widget_arrow(page, 3, "steps"))
    settle(page)
    stepped = autosaved(page)["workflow"]
    assert steps_of(stepped) == steps_of(original) + 1
    screenshot(page, "editor-mouse-edits.png")

    # exactly three steps: each Ctrl+Z takes back one edit, newest first
    page.keyboard.press("Control+z")
    settle(page)
    once = autosaved(page)["workflow"]
    assert steps_of(once) == steps_of(original)
    assert links_of(once) == links_of(linked) and node_of(once, 5)["pos"] != latent_pos
    page.keyboard.press("Control+z")
    settle(page)
    twice = autosaved(page)["workflow"]
    assert links_of(twice) == links_of(original) and node_of(twice, 5)["pos"] != latent_pos
    page.keyboard.press("Control+z")
    settle(page)
    thrice = autosaved(page)["workflow"]
    assert node_of(thrice, 5)["pos"] == latent_pos
    assert nodes_of(thrice) == nodes_of(original) and links_of(thrice) == links_of(original)
    page.keyboard.press("Control+z")  # nothing older
    settle(page)
    assert nodes_of(autosaved(page)["workflow"]) == nodes_of(original)

    for _ in range(3):  # and back again
        page.keyboard.press("Control+y")
    settle(page)
    redone = autosaved(page)["workflow"]
    assert nodes_of(redone) == nodes_of(stepped) and links_of(redone) == links_of(stepped)

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    shown = page.evaluate("""() => ({pos: [...lgEditor.getNode(5).pos],
      steps: lgEditor.getNode(3).widgets.find((w) => w.name === "steps").value,
      samples: lgEditor.graph._links.get(lgEditor.getNode(8).inputs[0].link).origin_id})""")
    assert shown == {"pos": node_of(stepped, 5)["pos"], "steps": steps_of(stepped),
                     "samples": 5}


def drag_widget(page: Any, node_id: int, name: str, dx: float) -> None:
    """Press on a number widget and drag sideways, slowly (many value changes, one gesture)."""
    x, y = page.evaluate("([id, name]) => lgEditor.widgetScreenPos(id, name)", [node_id, name])
    page.mouse.move(x, y)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x + dx * k / 10, y)
        page.wait_for_timeout(15)
    page.mouse.up()


def test_typing_dragging_adding_deleting_and_resizing_are_one_step_each(page: Any) -> None:
    original = autosaved(page)["workflow"]
    cfg = node_of(original, 3)["widgets_values"][3]
    click_widget(page, 3, "steps")  # the middle of a number opens a prompt: type a value
    page.fill("#lg-prompt input", "33")
    page.press("#lg-prompt input", "Enter")
    settle(page)
    assert steps_of(autosaved(page)["workflow"]) == 33
    drag_widget(page, 3, "cfg", 80)  # a number dragged: many values, one step
    settle(page)
    assert node_of(autosaved(page)["workflow"], 3)["widgets_values"][3] > cfg + 1
    open_palette(page)  # add a node
    page.fill("#lg-palette-input", "vae decode")
    page.press("#lg-palette-input", "Enter")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 8")
    settle(page)
    assert len(autosaved(page)["workflow"]["nodes"]) == 8
    page.mouse.click(*title_point(page, 6))  # delete a node
    page.keyboard.press("Delete")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 7")
    settle(page)
    assert 6 not in [n["id"] for n in autosaved(page)["workflow"]["nodes"]]
    size = node_of(original, 5)["size"]  # resize by the bottom-right corner
    corner = node_point(page, 5, size[0] - 4, size[1] - 4)
    drag(page, corner, (corner[0] + 80, corner[1] + 50))
    settle(page)
    resized = node_of(autosaved(page)["workflow"], 5)["size"]
    assert resized[0] > size[0] + 40 and resized[1] > size[1] + 20

    page.keyboard.press("Control+z")
    settle(page)
    assert node_of(autosaved(page)["workflow"], 5)["size"] == size
    page.keyboard.press("Control+z")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 8")
    page.keyboard.press("Control+z")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 7")
    page.keyboard.press("Control+z")
    settle(page)
    dragged = autosaved(page)["workflow"]
    assert node_of(dragged, 3)["widgets_values"][3] == cfg and steps_of(dragged) == 33
    page.keyboard.press("Control+z")
    settle(page)
    back = autosaved(page)["workflow"]
    assert nodes_of(back) == nodes_of(original) and links_of(back) == links_of(original)


def workflow_with_upscale(defaults: dict[str, Any]) -> dict[str, Any]:
    """The default graph, small, with a LatentUpscaleBy (10) between KSampler and VAE Decode."""
    workflow = copy.deepcopy(defaults)
    node_of(workflow, 5)["widgets_values"] = [64, 64, 1]
    node_of(workflow, 3)["widgets_values"][2] = 2
    workflow["nodes"].append({
        "id": 10, "type": "LatentUpscaleBy", "pos": [1000, 500], "size": [300, 100],
        "flags": {}, "order": 5, "mode": 0,
        "inputs": [{"name": "samples", "type": "LATENT", "link": 7}],
        "outputs": [{"name": "LATENT", "type": "LATENT", "links": [10], "slot_index": 0}],
        "properties": {}, "widgets_values": ["nearest-exact", 1.5]})
    node_of(workflow, 8)["inputs"][0]["link"] = 10
    workflow["links"] = [link for link in workflow["links"] if link[0] != 7]
    workflow["links"] += [[7, 3, 0, 10, 0, "LATENT"], [10, 10, 0, 8, 0, "LATENT"]]
    workflow["last_node_id"], workflow["last_link_id"] = 10, 10
    workflow["extra"] = {}
    return workflow


def test_bypass_and_mute_change_what_is_queued(page: Any) -> None:
    queued = intercept_queue(page)
    open_json(page, workflow_with_upscale(autosaved(page)["workflow"]), "upscale.json")
    page.wait_for_function("() => lgEditor.graph._nodes.length === 8")
    page.click("#queue-button")
    page.wait_for_function("() => lgEditor.lastPromptId === 'intercepted-1'")
    assert queued[0]["prompt"]["8"]["inputs"]["samples"] == ["10", 0]
    assert queued[0]["prompt"]["10"]["class_type"] == "LatentUpscaleBy"

    page.mouse.click(*title_point(page, 10))  # select it, Ctrl+B
    page.keyboard.press("Control+b")
    settle(page)
    assert node_of(autosaved(page)["workflow"], 10)["mode"] == 4
    screenshot(page, "editor-bypassed.png")
    page.click("#queue-button")
    page.wait_for_function("() => lgEditor.lastPromptId === 'intercepted-2'")
    prompt = queued[1]["prompt"]
    assert "10" not in prompt  # gone, and VAE Decode takes what fed it, as ComfyUI does
    assert prompt["8"]["inputs"]["samples"] == ["3", 0]
    assert queued[1]["extra_data"]["extra_pnginfo"]["workflow"]["nodes"][-1]["mode"] == 4

    page.keyboard.press("Control+b")  # again: back to normal
    settle(page)
    assert node_of(autosaved(page)["workflow"], 10)["mode"] == 0

    # the node menu offers both, and says which applies
    page.mouse.click(*title_point(page, 10), button="right")
    menu = page.locator(".litecontextmenu").first
    menu.wait_for()
    entries = menu.locator(".litemenu-entry").all_inner_texts()
    assert "Bypass (Ctrl+B)" in entries and "Mute (Ctrl+M)" in entries
    assert not any(e.startswith("Convert to Subgraph") for e in entries)
    menu.locator(".litemenu-entry", has_text="Mute (Ctrl+M)").click()
    settle(page)
    assert node_of(autosaved(page)["workflow"], 10)["mode"] == 2
    page.mouse.click(*title_point(page, 10), button="right")
    page.locator(".litecontextmenu .litemenu-entry", has_text="Unmute (Ctrl+M)").wait_for()
    page.keyboard.press("Escape")  # Escape closes a context menu too
    page.wait_for_selector(".litecontextmenu", state="detached")
    page.click("#queue-button")  # muted: skipped, and the input it fed is left empty
    page.wait_for_function("() => lgEditor.lastPromptId === 'intercepted-3'")
    prompt = queued[2]["prompt"]
    assert "10" not in prompt and "samples" not in prompt["8"]["inputs"]


def test_convert_to_subgraph_is_not_offered(page: Any) -> None:
    before = len(autosaved(page)["workflow"]["nodes"])
    page.keyboard.press("Control+a")
    page.mouse.click(*title_point(page, 5), button="right")
    menu = page.locator(".litecontextmenu").first
    menu.wait_for()
    assert not any("Subgraph" in e for e in menu.locator(".litemenu-entry").all_inner_texts())
    page.keyboard.press("Escape")
    page.wait_for_selector(".litecontextmenu", state="detached")
    x, y = page.evaluate("""() => { const box = lgEditor.canvas.canvas.getBoundingClientRect();
      return [box.left + 30, box.top + 30]; }""")
    page.mouse.click(x, y, button="right")  # the canvas menu, nodes still selected
    menu = page.locator(".litecontextmenu").first
    menu.wait_for()
    assert not any("Subgraph" in e for e in menu.locator(".litemenu-entry").all_inner_texts())
    page.keyboard.press("Escape")
    assert len(autosaved(page)["workflow"]["nodes"]) == before


def test_escape_closes_help_error_panel_prompt_and_palette(page: Any) -> None:
    page.mouse.click(300, 120)
    page.keyboard.press("?")
    page.wait_for_selector("#lg-help")
    page.keyboard.press("Escape")  # the focus is on the canvas, not in the dialog
    page.wait_for_selector("#lg-help", state="detached")
    page.set_input_files("#open-file", files=[{"name": "bad.json", "mimeType":
                                               "application/json", "buffer": b"[1, 2]"}])
    page.wait_for_selector("#error-panel[data-kind=message]")
    assert "bad.json" in page.locator("#error-panel").inner_text()
    page.keyboard.press("Escape")
    page.wait_for_selector("#error-panel", state="hidden")
    click_widget(page, 3, "steps")
    page.wait_for_selector("#lg-prompt input")
    page.keyboard.press("Escape")  # focus in the prompt's field
    page.wait_for_selector("#lg-prompt", state="detached")
    open_palette(page)
    page.keyboard.press("Escape")
    page.wait_for_selector("#lg-palette", state="detached")


def test_a_saved_view_off_the_graph_is_fitted_and_one_on_it_is_kept(page: Any) -> None:
    workflow = autosaved(page)["workflow"]
    workflow["extra"] = {"ds": {"scale": 1.0, "offset": [-90000, -90000]}}
    open_json(page, workflow, "far.json")
    page.wait_for_function("() => document.title.startsWith('far')")
    shown = page.evaluate("""() => { const c = lgEditor.canvas;
      c.ds.computeVisibleArea(c.viewport); const [x, y, w, h] = c.visible_area;
      return lgEditor.graph._nodes.filter((n) => n.pos[0] >= x && n.pos[1] >= y &&
        n.pos[0] + n.size[0] <= x + w && n.pos[1] + n.size[1] <= y + h).length; }""")
    assert shown == 7
    workflow["extra"] = {"ds": {"scale": 0.75, "offset": [10, 20]}}
    open_json(page, workflow, "near.json")
    page.wait_for_function("() => document.title.startsWith('near')")
    view = page.evaluate("() => ({scale: lgEditor.canvas.ds.scale, "
                         "offset: [...lgEditor.canvas.ds.offset]})")
    assert view == {"scale": 0.75, "offset": [10, 20]}
    assert autosaved(page)["view"] == view  # and the view comes back after a reload
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("() => [...lgEditor.canvas.ds.offset]") == [10, 20]
