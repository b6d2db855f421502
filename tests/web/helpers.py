"""Small helpers shared by the browser tests."""

from __future__ import annotations

import json
from typing import Any

DEFAULT_TYPES = sorted(["CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage", "KSampler",
                        "VAEDecode", "SaveImage", "CheckpointLoaderSimple"])
MAX_SEED = 2**64 - 1

RECORDER = """() => {
  const seen = { progress: [], widths: [], runningNodes: [], previews: 0 };
  const api = lgEditor.api;
  api.addEventListener("m:progress", (e) => seen.progress.push(e.detail.value));
  api.addEventListener("b:preview", () => { seen.previews += 1; });
  const bar = document.getElementById("progress-bar");
  new MutationObserver(() => seen.widths.push(bar.style.width))
    .observe(bar, { attributes: true });
  new MutationObserver(() => seen.runningNodes.push(document.body.dataset.runningNode))
    .observe(document.body, { attributes: true, attributeFilter: ["data-running-node"] });
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
    page.evaluate("""([id, name, value]) => {
      const w = lgEditor.getNode(id).widgets.find((x) => x.name === name);
      w.value = value;
      lgEditor.changed();
    }""", [node_id, name, value])


def node_types(workflow: dict[str, Any]) -> list[str]:
    return sorted(str(n["type"]) for n in workflow["nodes"])


def empty_spot(page: Any) -> tuple[float, float]:
    """Page coordinates of a canvas point with no node or group under it."""
    x, y = page.evaluate("""() => {
      const box = lgEditor.canvas.canvas.getBoundingClientRect();
      for (let y = box.bottom - 20; y > box.top + 20; y -= 20) {
        for (let x = box.left + 20; x < box.right - 20; x += 20) {
          const [gx, gy] = lgEditor.canvas.ds.convertCanvasToOffset([x - box.left, y - box.top]);
          const hit = lgEditor.graph.getNodeOnPos(gx, gy) || lgEditor.graph._groups.some(
            (g) => { const [bx, by, bw, bh] = g._bounding;
                     return gx >= bx && gy >= by && gx <= bx + bw && gy <= by + bh; });
          if (!hit && document.elementFromPoint(x, y) === lgEditor.canvas.canvas) return [x, y];
        }
      }
      throw new Error("no empty spot on the canvas");
    }""")
    return x, y


def open_palette(page: Any) -> None:
    """Double-click empty canvas. Litegraph times double clicks (300 ms between the two
    pointerdowns by event timestamps), which a loaded CI machine can miss: try up to 3 times."""
    for _ in range(3):
        page.mouse.dblclick(*empty_spot(page))
        try:
            page.wait_for_selector("#lg-palette-input", timeout=3_000)
            return
        except Exception:  # noqa: BLE001 (playwright's TimeoutError)
            continue
    raise AssertionError("double-clicking the canvas did not open the node palette")
