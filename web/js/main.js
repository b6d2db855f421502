// The editor: wires the canvas, the node types from /object_info, the websocket run state,
// files, undo and the panels. `window.lgEditor` is the app (extensions and tests use it).

import {
  LGraph, LGraphCanvas, LGraphGroup, LiteGraph,
} from "../vendor/litegraph/litegraph.es.js";
import { clone } from "./bigjson.js";
import { Api, ApiError } from "./api.js";
import { askToken } from "./dialogs.js";
import { defaultWorkflow } from "./default_graph.js";
import { Extensions } from "./extensions.js";
import {
  autosave, baseName, download, loadAutosave, workflowFromData, workflowFromFile,
} from "./files.js";
import { flagMissingNodes, registerNodeTypes } from "./nodes.js";
import { showPalette } from "./palette.js";
import { Panels, showHelp } from "./panels.js";
import { RunState, followRuns } from "./run.js";
import { installSafety } from "./safety.js";
import { History, graphKey } from "./undo.js";
import { imageMethods } from "./images.js";
import { queueMethods } from "./queue.js";
import { installMenus } from "./menus.js";
import { BYPASS, MUTED, toggledMode } from "./modes.js";
import { registerVirtualNodes } from "./virtual_nodes.js";
import { anyVisible, boundsOf, savedView } from "./view.js";

const isTyping = (target) => target instanceof HTMLElement &&
  (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));

export class App {
  constructor() {
    this.api = new Api();
    this.run = new RunState();
    this.extensions = new Extensions(this);
    this.defs = {};
    this.name = "Unsaved workflow";
    this.booted = false;
    this.graph = null;
    this.canvas = null;
    this.history = null;
    this.changeTimer = null;
    this.configuring = false;  // a whole graph is being loaded
  }

  registerExtension(extension) {
    this.extensions.register(extension);
  }

  async start() {
    installSafety((event, opts) => showPalette(this, event, opts), () => this.changed());
    installMenus(this);
    this.panels = new Panels(this);
    this.api.addEventListener("unauthorized", () => this.askForToken());
    const url = new URL(location.href);
    if (url.searchParams.has("token")) {  // the cookie is set; keep the token out of history
      url.searchParams.delete("token");
      history.replaceState(null, "", url);
    }
    this.bindToolbar();
    try {
      await this.boot();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        this.panels.showMessage("The editor could not start", String(error.message ?? error));
      }
    }
  }

  async boot() {
    await this.extensions.load(this.api);
    this.extensions.call("init");
    this.defs = await this.api.get("/api/object_info");
    registerNodeTypes(this.defs, this);
    registerVirtualNodes(this);
    this.setupCanvas();
    followRuns(this);
    this.api.addEventListener("connected", (e) => {
      this.panels.setStatus("connected");
      if (e.detail.again) this.resync();
    });
    this.api.addEventListener("disconnected", () => this.panels.setStatus("reconnecting…"));
    this.api.connect();
    const saved = loadAutosave();
    if (saved?.workflow) {
      this.loadWorkflow(saved.workflow, saved.name ?? this.name, saved.view);
    } else {
      this.loadWorkflow(defaultWorkflow(this.defs), "Default workflow");
    }
    this.booted = true;
    this.extensions.call("setup");
    this.panels.refreshQueue();
    this.panels.refreshHistory();
    this.api.get("/api/plugins").then((data) => this.panels.showPackProblems(data?.packs ?? []))
      .catch(() => {});  // a server without the route: nothing to show
    document.body.dataset.ready = "true";
  }

  askForToken() {
    if (document.getElementById("lg-token")) return;
    askToken("This server requires an access token. Paste the token the server was started " +
      "with.", async (token) => {
      if (!token || !(await this.api.login(token))) return false;
      if (!this.booted) await this.boot().catch(() => {});
      else this.resync();
      return true;
    });
  }

  setupCanvas() {
    const element = document.getElementById("graph-canvas");
    this.graph = new LGraph();
    this.canvas = new LGraphCanvas(element, this.graph);
    this.canvas.allow_searchbox = true;
    this.canvas.show_info = false;
    this.canvas.render_canvas_border = false;
    const resize = () => {
      const box = element.parentElement.getBoundingClientRect();
      this.canvas.resize(Math.floor(box.width), Math.floor(box.height));
    };
    window.addEventListener("resize", resize);
    resize();
    this.graph.onNodeAdded = (node) => this.extensions.call("nodeCreated", node);
    this.graph.onAfterChange = () => this.changed();
    this.graph.events.addEventListener("configuring", () => {
      this.configuring = true;
    });
    this.graph.events.addEventListener("configured", () => {
      this.configuring = false;
      for (const node of this.graph._nodes) node.onAfterGraphConfigured?.();
    });
    this.history = new History(() => this.snapshot(), (state) => this.restore(state),
      { key: graphKey });
    // Every gesture ends in a checkpoint. Litegraph stops the canvas's pointerup from
    // propagating (its own listener is a capturing one), so ours captures too; clicks and
    // keys elsewhere (menus, dialogs) count as well. A checkpoint waits for the pointer.
    element.addEventListener("pointerup", () => this.changed(), true);
    for (const type of ["pointerup", "click"]) {
      document.addEventListener(type, () => this.changed(), true);
    }
    document.addEventListener("keyup", (e) => {
      if (!isTyping(e.target)) this.changed();
    });
    window.addEventListener("pagehide", () => this.autosaveNow());
    document.addEventListener("keydown", (e) => this.onKey(e), true);
    element.addEventListener("dragover", (e) => e.preventDefault());
    element.addEventListener("drop", (e) => this.onDrop(e));
    document.body.addEventListener("dragover", (e) => e.preventDefault());
    document.body.addEventListener("drop", (e) => {
      if (e.target !== element) this.onDrop(e);
    });
  }

  bindToolbar() {
    const on = (id, fn) => document.getElementById(id).addEventListener("click", fn);
    on("queue-button", () => this.queue());
    on("cancel-button", () => this.cancelCurrent());
    on("save-button", () => this.save());
    on("open-button", () => document.getElementById("open-file").click());
    on("undo-button", () => this.undo());
    on("redo-button", () => this.redo());
    on("fit-button", () => this.fitView());
    on("help-button", () => showHelp());
    document.getElementById("open-file").addEventListener("change", (e) => {
      const file = e.target.files?.[0];
      e.target.value = "";
      if (file) this.openFile(file);
    });
  }

  onKey(e) {
    if (!this.graph) return;
    if (e.key === "Escape") {  // dialogs close themselves first (dialogs.js)
      if (this.dismiss()) {
        e.preventDefault();
        e.stopPropagation();
      }
      return;
    }
    if (isTyping(e.target)) return;
    const ctrl = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    let handled = true;
    if (ctrl && e.key === "Enter") this.queue();
    else if (ctrl && key === "b" && !e.shiftKey) this.toggleMode(BYPASS);
    else if (ctrl && key === "m" && !e.shiftKey) this.toggleMode(MUTED);
    else if (ctrl && key === "z" && !e.shiftKey) this.undo();
    else if (ctrl && (key === "y" || (key === "z" && e.shiftKey))) this.redo();
    else if (ctrl && key === "s") this.save();
    else if (ctrl && key === "o") document.getElementById("open-file").click();
    else if (ctrl && key === "g") this.groupSelected();
    else if (!ctrl && e.key === ".") this.fitView();
    else if (!ctrl && e.key === "?") showHelp();
    else handled = false;
    if (handled) {
      e.preventDefault();
      e.stopPropagation();
    } else if (e.key === "Delete" || e.key === "Backspace" || (ctrl && key === "v")) {
      setTimeout(() => this.changed(), 0);
    }
  }

  redraw() {
    this.canvas?.setDirty(true, true);
  }

  /** Close what Escape closes, topmost first: a context menu, then the message panel. */
  dismiss() {
    if (document.querySelector(".litecontextmenu")) {
      LiteGraph.closeAllContextMenus();
      return true;
    }
    if (!document.getElementById("error-panel").hidden) {
      this.clearErrors();
      return true;
    }
    return false;
  }

  /**
   * Bypass (mode 4) or mute (mode 2) the selected nodes, or `node` if it is not selected;
   * again: back to normal. The server's converter honours the modes as ComfyUI does.
   * @param {number} mode
   * @param {any} [node]
   */
  toggleMode(mode, node) {
    const selected = Object.values(this.canvas.selected_nodes ?? {});
    const nodes = node && !selected.includes(node) ? [node] : selected;
    if (!nodes.length) return;
    const next = toggledMode(nodes.map((n) => n.mode), mode);
    for (const n of nodes) n.mode = next;
    this.changed();
    this.redraw();
  }

  /** The graph as data, as saved (the view left out so panning is no edit, nor is the room
   * a preview takes). */
  snapshot() {
    const data = this.graph.serialize();
    if (this.keptDefinitions) data.definitions = this.keptDefinitions;  // not edited here
    if (data.extra?.ds) {
      data.extra = { ...data.extra };
      delete data.extra.ds;
    }
    for (const saved of data.nodes ?? []) {
      const grownFrom = this.getNode(saved.id)?.lgGrownFrom;
      if (grownFrom) saved.size = [...grownFrom];
    }
    return clone(data);
  }

  restore(state) {
    const ds = this.canvas.ds;
    const view = { scale: ds.scale, offset: [...ds.offset] };
    this.graph.configure(state);
    flagMissingNodes(this.graph, this);
    ds.scale = view.scale;
    ds.offset = view.offset;
    this.afterChange();
    this.redraw();
  }

  /** Call after any edit: records an undo step and autosaves (coalesced; a gesture still
   * under way, the pointer down, is recorded when it ends). */
  changed() {
    clearTimeout(this.changeTimer);
    this.changeTimer = setTimeout(() => {
      if (this.canvas?.pointer?.isDown) return;
      if (this.history?.checkpoint()) this.afterChange();
    }, 0);
  }

  afterChange() {
    this.autosaveNow();
    document.body.dataset.nodes = String(this.graph._nodes.length);
  }

  /** The graph (and, beside it, the view) into localStorage. */
  autosaveNow() {
    if (!this.graph || !this.canvas) return;
    const { scale, offset } = this.canvas.ds;
    autosave(this.snapshot(), this.name, { scale, offset: [...offset] });
  }

  undo() {
    if (this.history.undo()) this.panels.setStatus("undone");
  }

  redo() {
    if (this.history.redo()) this.panels.setStatus("redone");
  }

  nodeChanged(node) {
    if (this.history && !this.history.restoring) this.changed();
    return node;
  }

  setTitle(name) {
    this.name = String(name);
    document.getElementById("workflow-title").textContent = this.name;
    document.title = `${this.name} – Latentgraph`;
  }

  /**
   * Show a UI workflow (v0.4 or v1), keeping unknown node types and subgraphs as they are.
   * @param {any} workflow
   * @param {string} name
   * @param {any} [view] where the view was ({scale, offset}); else the workflow's `extra.ds`
   */
  loadWorkflow(workflow, name, view) {
    this.clearErrors();
    this.run.images.clear();
    this.run.clearPreviews();
    this.keptDefinitions = workflow.definitions ? clone(workflow.definitions) : null;
    this.graph.configure(clone(workflow));
    const missing = flagMissingNodes(this.graph, this);
    this.setTitle(name);
    this.canvas.draw(true, true);  // lay the nodes out once: sizes settle before the history
    this.showView(savedView(view ?? workflow.extra?.ds));
    this.history.reset();
    this.afterChange();
    if (missing.length) {
      this.panels.showMessage("Unknown node types",
        `This server has no ${missing.join(", ")}. These nodes are kept and saved back ` +
        "unchanged, but the workflow cannot run until they are installed.");
    }
    this.redraw();
  }

  async openFile(file) {
    try {
      const workflow = await workflowFromFile(file, this.defs);
      this.loadWorkflow(workflow, baseName(file.name));
    } catch (error) {
      this.panels.showMessage(`Could not open ${file.name}`, String(error.message ?? error));
    }
  }

  openData(data, name) {
    this.loadWorkflow(workflowFromData(data, this.defs), name);
  }

  save() {
    download(this.snapshot(), this.name);
  }

  async openJob(id) {
    const job = await this.api.get(`/api/jobs/${encodeURIComponent(id)}`);
    const saved = job?.workflow?.extra_data?.extra_pnginfo?.workflow;
    this.openData(saved ?? job.workflow.prompt, `Job ${String(id).slice(0, 8)}`);
  }

  onDrop(e) {
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    e.preventDefault();
    e.stopPropagation();
    const [x, y] = this.canvas.convertEventToCanvasOffset(e);
    const node = this.graph.getNodeOnPos(x, y);
    const upload = node?.widgets?.some((w) => w.name === "upload");
    if (node && upload && file.type.startsWith("image/")) this.uploadImage(node, file);
    else this.openFile(file);
  }

  /** Client (page) coordinates of a canvas point: for extensions and tests. */
  screenPos(x, y) {
    const [ox, oy] = this.canvas.ds.convertOffsetToCanvas([x, y]);
    const box = this.canvas.canvas.getBoundingClientRect();
    return [box.left + ox, box.top + oy];
  }

  /** Client coordinates of the middle of a node's widget. */
  widgetScreenPos(id, name) {
    const node = this.getNode(id);
    const widget = node.widgets.find((w) => w.name === name);
    const y = node.pos[1] + (widget.last_y ?? widget.y) + LiteGraph.NODE_WIDGET_HEIGHT / 2;
    return this.screenPos(node.pos[0] + node.size[0] / 2, y);
  }

  getNode(id) {
    return this.graph.getNodeById(Number(id)) ?? this.graph.getNodeById(id);
  }

  nodeTitle(id) {
    const node = this.getNode(id);
    return node ? String(node.title ?? node.type) : "";
  }

  // --- editing comfort ----------------------------------------------------------------

  groupSelected() {
    const nodes = Object.values(this.canvas.selected_nodes ?? {});
    if (!nodes.length) return;
    for (const node of nodes) node.updateArea();  // bounds of nodes not drawn yet
    const group = new LGraphGroup("Group");
    this.graph.add(group);
    group.resizeTo(nodes);
    this.changed();
    this.redraw();
  }

  /** Node boxes [x, y, w, h] with their titles. */
  nodeBoxes() {
    const title = LiteGraph.NODE_TITLE_HEIGHT;
    return this.graph._nodes.map((n) => [n.pos[0], n.pos[1] - title, n.size[0],
      n.size[1] + title]);
  }

  /** Show a saved view ({scale, offset}, or null) if it shows some node; else fit. */
  showView(view) {
    if (view) {
      const { ds } = this.canvas;
      ds.scale = view.scale;
      ds.offset = [...view.offset];
      this.canvas.ds.computeVisibleArea(this.canvas.viewport);
      const boxes = this.nodeBoxes();
      if (!boxes.length || anyVisible(boxes, this.canvas.ds.visible_area)) {
        this.redraw();
        return;
      }
    }
    this.fitView();
  }

  fitView() {
    const bounds = boundsOf(this.nodeBoxes());
    if (!bounds) return;
    this.canvas.ds.fitToBounds(bounds, { zoom: 0.9 });
    this.redraw();
  }
}

Object.assign(App.prototype, imageMethods, queueMethods);

const app = new App();
window.lgEditor = app;
window.LiteGraph = LiteGraph;
window.LGraphCanvas = LGraphCanvas;
app.start();
