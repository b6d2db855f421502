"""Small helpers shared by the browser tests."""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_TYPES = sorted(["CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage", "KSampler",
                        "VAEDecode", "SaveImage", "CheckpointLoaderSimple"])
MAX_SEED = 2**64 - 1

RECORDER = """() => {
  const seen = { progress: [], widths: [], runningNodes: [], previews: 0, phases: [] };
  const api = lgEditor.api;
  api.addEventListener("m:progress", (e) => seen.progress.push(e.detail.value));
  api.addEventListener("b:preview", () => { seen.previews += 1; });
  const bar = document.getElementById("progress-bar");
  new MutationObserver(() => seen.widths.push(bar.style.width))
    .observe(bar, { attributes: true });
  new MutationObserver(() => seen.runningNodes.push(document.body.dataset.runningNode))
    .observe(document.body, { attributes: true, attributeFilter: ["data-running-node"] });
  const strip = document.getElementById("progress");
  new MutationObserver(() => seen.phases.push([strip.dataset.phase,
    document.body.dataset.runningNode])).observe(strip, { attributes: true,
    attributeFilter: ["data-phase"] });
  window.__seen = seen;
}"""


def snapshot(page: Any) -> dict[str, Any]:
    """The editor's graph, through the big-int-exact serialiser (Python ints stay exact)."""
    text = page.evaluate("""async () => {
      const { stringify } = await import("/static/js/bigjson.js");
      return stringify(lgEditor.snapshot());
    }""")
    return json.loads(text)


def click_widget(page: Any, node_id: int, name: str) -> None:
    x, y = page.evaluate("([id, name]) => lgEditor.widgetScreenPos(id, name)", [node_id, name])
    page.mouse.click(x, y)


def click_title(page: Any, node_id: int) -> None:
    x, y = page.evaluate("""(id) => {
      const n = lgEditor.getNode(id);
      return lgEditor.screenPos(n.pos[0] + 40, n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT / 2);
    }""", node_id)
    page.mouse.click(x, y)


def set_widget(page: Any, node_id: int, name: str, value: Any) -> None:
    """Set a widget as a person does: click its middle; a combo opens a menu, where the entry
    is clicked; anything else opens the value prompt, where the value is typed and OK pressed.
    Waits until the widget shows the value."""
    page.wait_for_function("""([id, name]) => lgEditor.getNode(id).widgets
      .find((x) => x.name === name)?.last_y > 0""", arg=[node_id, name])
    kind, x, y, shown = page.evaluate("""([id, name]) => {
      const w = lgEditor.getNode(id).widgets.find((x) => x.name === name);
      const [x, y] = lgEditor.widgetScreenPos(id, name);
      return [w.type, x, y, document.elementFromPoint(x, y) === lgEditor.canvas.canvas];
    }""", [node_id, name])
    assert shown, f"widget {name!r} of node {node_id} is not on screen to click"
    text = str(value)
    page.mouse.click(x, y)
    if kind == "combo":
        menu = page.locator(".litecontextmenu").last
        menu.wait_for()
        menu.locator(".litemenu-entry").filter(
            has_text=re.compile(f"^{re.escape(text)}$")).first.click()
        page.wait_for_selector(".litecontextmenu", state="detached")
    else:
        page.fill("#lg-prompt .lg-prompt-value", text)  # a field, or a text area (multiline)
        page.click("#lg-prompt .lg-ok")
        page.wait_for_selector("#lg-prompt", state="detached")
    page.wait_for_function("""([id, name, text]) => String(lgEditor.getNode(id).widgets
      .find((x) => x.name === name).value) === text""", arg=[node_id, name, text])


def node_types(workflow: dict[str, Any]) -> list[str]:
    return sorted(str(n["type"]) for n in workflow["nodes"])


def empty_spot(page: Any, room: tuple[float, float] = (0, 0)) -> tuple[float, float]:
    """Page coordinates of a canvas point with no node or group under it. With ``room``
    (width, height in page pixels), also the rectangle that size to its lower right is on the
    canvas and clear: where a node put at the point shows whole."""
    x, y = page.evaluate("""([w, h]) => {
      const box = lgEditor.canvas.canvas.getBoundingClientRect();
      const graphPos = (x, y) => lgEditor.canvas.ds.convertCanvasToOffset(
        [x - box.left, y - box.top]);
      const clear = (x, y) => {
        const [gx, gy] = graphPos(x, y);
        const [gx2, gy2] = graphPos(x + w, y + h);
        const overlaps = ([bx, by, bw, bh]) => gx <= bx + bw && gx2 >= bx && gy <= by + bh
          && gy2 >= by;
        return !lgEditor.graph._nodes.some((n) => overlaps(n.getBounding()))
          && !lgEditor.graph._groups.some((g) => overlaps(g._bounding))
          && [[x + w, y], [x, y + h], [x + w, y + h]].every(
            ([px, py]) => document.elementFromPoint(px, py) === lgEditor.canvas.canvas);
      };
      for (let y = box.bottom - 20 - h; y > box.top + 20; y -= 20) {
        for (let x = box.left + 20; x + w < box.right - 20; x += 20) {
          const [gx, gy] = graphPos(x, y);
          const hit = lgEditor.graph.getNodeOnPos(gx, gy) || lgEditor.graph._groups.some(
            (g) => { const [bx, by, bw, bh] = g._bounding;
                     return gx >= bx && gy >= by && gx <= bx + bw && gy <= by + bh; });
          if (!hit && document.elementFromPoint(x, y) === lgEditor.canvas.canvas
              && (!(w || h) || clear(x, y))) return [x, y];
        }
      }
      throw new Error("no empty spot on the canvas");
    }""", list(room))
    return x, y


def open_palette(page: Any, room: tuple[float, float] = (0, 0)) -> None:
    """Double-click empty canvas (see ``empty_spot`` for ``room``). Litegraph times double
    clicks (300 ms between the two pointerdowns by event timestamps), which a loaded CI machine
    can miss: try up to 3 times."""
    for _ in range(3):
        page.mouse.dblclick(*empty_spot(page, room))
        try:
            page.wait_for_selector("#lg-palette-input", timeout=3_000)
            return
        except Exception:  # noqa: BLE001 (playwright's TimeoutError)
            continue
    raise AssertionError("double-clicking the canvas did not open the node palette")


def add_node(page: Any, query: str, node_type: str, room: tuple[float, float] = (0, 0)) -> int:
    """Add a node as a person does: double-click empty canvas (with ``room`` for it, see
    ``empty_spot``), type ``query`` in the palette, check ``node_type`` is the first match,
    press Enter. The new node's id."""
    before = {node["id"] for node in snapshot(page)["nodes"]}
    open_palette(page, room)
    page.fill("#lg-palette-input", query)
    assert page.locator("#lg-palette-list li").first.get_attribute("data-type") == node_type
    page.press("#lg-palette-input", "Enter")
    page.wait_for_selector("#lg-palette-input", state="detached")
    added = [node for node in snapshot(page)["nodes"] if node["id"] not in before]
    assert [node["type"] for node in added] == [node_type]
    return int(added[0]["id"])


def drop_file(page: Any, point: tuple[float, float], name: str, mime: str, data: bytes,
              target: str = "#graph-canvas") -> None:
    """Drop a file at a page point as a person does from a file manager: dragenter, dragover
    and drop, carrying a DataTransfer that holds the file."""
    transfer = page.evaluate_handle("""([bytes, name, mime]) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
      return transfer;
    }""", [list(data), name, mime])
    x, y = point
    for kind in ("dragenter", "dragover", "drop"):
        page.locator(target).dispatch_event(kind, {"dataTransfer": transfer, "clientX": x,
                                                   "clientY": y})
    transfer.dispose()


def autosaved(page: Any) -> dict[str, Any]:
    """What the editor autosaved (localStorage): ``{"name", "workflow", "view"}``."""
    return json.loads(page.evaluate("() => localStorage.getItem('lg.autosave')"))


def node_point(page: Any, node_id: int, dx: float, dy: float) -> tuple[float, float]:
    """Page coordinates of a point given relative to a node's position (its body's top left;
    the title bar is above, at negative dy)."""
    x, y = page.evaluate("""([id, dx, dy]) => { const n = lgEditor.getNode(id);
      return lgEditor.screenPos(n.pos[0] + dx, n.pos[1] + dy); }""", [node_id, dx, dy])
    return x, y


def title_point(page: Any, node_id: int) -> tuple[float, float]:
    return node_point(page, node_id, 40, -10)


def slot_point(page: Any, node_id: int, is_input: bool, slot: int) -> tuple[float, float]:
    """Page coordinates of an input or output slot's dot."""
    x, y = page.evaluate("""([id, input, slot]) => { const n = lgEditor.getNode(id);
      const [x, y] = n.getConnectionPos(input, slot); return lgEditor.screenPos(x, y); }""",
                         [node_id, is_input, slot])
    return x, y


def widget_arrow(page: Any, node_id: int, name: str, side: str = "right") -> tuple[float, float]:
    """Page coordinates of a number widget's increment (right) or decrement (left) arrow
    (once the widget has been drawn: a new one has no place yet)."""
    page.wait_for_function("""([id, name]) => lgEditor.getNode(id).widgets
      .find((x) => x.name === name)?.last_y > 0""", arg=[node_id, name])
    x, y = page.evaluate("""([id, name, right]) => { const n = lgEditor.getNode(id);
      const w = n.widgets.find((x) => x.name === name);
      const y = n.pos[1] + (w.last_y ?? w.y) + LiteGraph.NODE_WIDGET_HEIGHT / 2;
      return lgEditor.screenPos(n.pos[0] + (right ? n.size[0] - 18 : 18), y); }""",
                         [node_id, name, side == "right"])
    return x, y


def drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def intercept_queue(page: Any) -> list[dict[str, Any]]:
    """Answer ``POST /api/prompt`` in the test (nothing runs) and keep each request body: what
    the editor queued. Conversion (``/api/workflow/convert``) still goes to the server."""
    bodies: list[dict[str, Any]] = []

    def handle(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        bodies.append(json.loads(route.request.post_data))
        route.fulfill(json={"prompt_id": f"intercepted-{len(bodies)}", "number": len(bodies),
                            "node_errors": {}})

    page.route("**/api/prompt", handle)
    return bodies


def open_json(page: Any, workflow: Any, name: str = "workflow.json") -> None:
    """Open a workflow as a person does: the Open button's file input. Waits until the editor
    shows it (its title is the file's name without the extension, which must differ from the
    title shown before)."""
    title = re.sub(r"\.(json|png)$", "", name, flags=re.IGNORECASE)
    assert page.locator("#workflow-title").text_content() != title, "open it under a new name"
    page.set_input_files("#open-file", files=[{
        "name": name, "mimeType": "application/json", "buffer": json.dumps(workflow).encode()}])
    page.wait_for_function("(title) => document.getElementById('workflow-title').textContent"
                           " === title", arg=title)
