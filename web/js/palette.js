// The node palette: search every node type by name, title or category (double-click the
// canvas, or release a dragged link on empty canvas to get only compatible nodes).

import { LiteGraph } from "../vendor/litegraph/litegraph.es.js";
import { clear, el } from "./dom.js";
import { closeDialog, showDialog } from "./dialogs.js";
import { VIRTUAL_DEFS } from "./virtual_nodes.js";
import { fits, searchNodes } from "./search.js";

/**
 * Show the palette at a mouse event.
 * @param {any} app
 * @param {MouseEvent} event
 * @param {any} opts litegraph search options (node_from/slot_from, node_to/slot_from …)
 */
export function showPalette(app, event, opts = {}) {
  const canvas = app.canvas;
  const at = event ? canvas.convertEventToCanvasOffset(event) : canvas.ds.convertCanvasToOffset(
    [canvas.canvas.width / 2, canvas.canvas.height / 2]);
  const fromSlot = opts.slot_from;
  const filter = {};
  if (opts.node_from && fromSlot) filter.inputType = fromSlot.type;
  if (opts.node_to && fromSlot) {
    filter.outputType = fromSlot.type;
    filter.widget = Boolean(fromSlot.widget);
  }
  const input = el("input", { type: "search", id: "lg-palette-input", placeholder:
    "Search nodes…", autocomplete: "off" });
  const list = el("ul", { id: "lg-palette-list", class: "lg-palette-list" });
  let results = [];
  let active = 0;
  const choose = (item) => {
    closeDialog();
    const node = LiteGraph.createNode(item.type);
    if (!node) return;
    node.pos = [at[0], at[1]];
    app.graph.add(node);
    if (opts.node_from && fromSlot) {
      const k = node.inputs?.findIndex((i) => fits(i.type, fromSlot.type));
      const out = opts.node_from.outputs.indexOf(fromSlot);
      if (k >= 0 && out >= 0) opts.node_from.connect(out, node, k);
    } else if (opts.node_to && fromSlot) {
      const k = node.outputs?.findIndex((o) => fits(o.type, fromSlot.type));
      const inp = opts.node_to.inputs.indexOf(fromSlot);
      if (k >= 0 && inp >= 0) node.connect(k, opts.node_to, inp);
    }
    canvas.selectItems([node]);
    app.changed();
  };
  const render = () => {
    results = searchNodes({ ...app.defs, ...VIRTUAL_DEFS }, input.value, filter).slice(0, 50);
    active = Math.min(active, Math.max(0, results.length - 1));
    clear(list);
    results.forEach((item, k) => {
      list.append(el("li", {
        class: k === active ? "active" : "", dataset: { type: item.type },
        onpointerdown: (e) => {
          e.preventDefault();
          choose(item);
        },
      }, el("span", { class: "lg-title", text: item.title }),
      el("span", { class: "lg-category", text: item.category })));
    });
  };
  input.addEventListener("input", () => {
    active = 0;
    render();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") active = Math.min(active + 1, results.length - 1);
    else if (e.key === "ArrowUp") active = Math.max(active - 1, 0);
    else if (e.key === "Enter") {
      if (results[active]) choose(results[active]);
      return;
    } else return;
    e.preventDefault();
    render();
  });
  showDialog("Add node", [input, list], { id: "lg-palette" });
  render();
  input.focus();
}
