// The side panel (queue and history from /jobs), the progress bar, the error panel and the
// shortcuts help. Everything from the server is shown as text.

import { clear, el } from "./dom.js";
import { showDialog } from "./dialogs.js";
import { runPhase } from "./run.js";

export const SHORTCUTS = [
  ["Ctrl+Enter", "Queue the workflow (batch count times)"],
  ["Double-click canvas", "Search and add a node"],
  ["Ctrl+Z / Ctrl+Y (Ctrl+Shift+Z)", "Undo / redo"],
  ["Ctrl+C / Ctrl+V", "Copy / paste the selection (links between copied nodes kept)"],
  ["Ctrl+Shift+V", "Paste keeping links from outside nodes"],
  ["Delete / Backspace", "Delete the selection"],
  ["Ctrl+A", "Select all nodes"],
  ["Ctrl+click, drag on empty canvas with Ctrl", "Add to the selection / box-select"],
  ["Ctrl+G", "Put the selected nodes in a group"],
  ["Ctrl+B / Ctrl+M", "Bypass / mute the selected nodes (again: back to normal)"],
  ["Right-click a node", "Bypass, mute; open, save or copy the image it shows"],
  [".", "Fit the whole graph in view"],
  ["Ctrl+S / Ctrl+O", "Save / open a workflow (.json, or a .png holding one)"],
  ["Drop a .json or .png", "Open it; an image dropped on Load Image uploads it"],
  ["Escape", "Close a dialog, a menu or the message panel"],
  ["?", "This help"],
];

export function showHelp() {
  showDialog("Keyboard shortcuts", [
    el("table", { class: "lg-help" }, ...SHORTCUTS.map(([key, what]) =>
      el("tr", {}, el("td", {}, el("kbd", { text: key })), el("td", { text: what })))),
  ], { id: "lg-help" });
}

export class Panels {
  constructor(app) {
    this.app = app;
    this.bar = document.getElementById("progress-bar");
    this.queueList = document.getElementById("queue-list");
    this.historyList = document.getElementById("history-list");
    this.errors = document.getElementById("error-panel");
    this.status = document.getElementById("status-text");
    this.pendingRefresh = null;
  }

  /** The toolbar bar: steps of the running node, or a moving stripe while it loads. */
  progress(run) {
    const { value, max } = run.progress;
    const fraction = max ? Math.min(1, value / max) : 0;
    const phase = runPhase(run);
    this.bar.parentElement.dataset.phase = phase;
    this.bar.style.width = phase === "loading" ? "" : `${(fraction * 100).toFixed(1)}%`;
    this.bar.dataset.value = String(value);
    this.bar.dataset.max = String(max);
    document.body.dataset.running = run.running.prompt ? "true" : "false";
    document.body.dataset.runningNode = run.running.node ?? "";
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  refreshQueue() {
    clearTimeout(this.pendingRefresh);
    this.pendingRefresh = setTimeout(() => this.loadQueue().catch(() => {}), 50);
  }

  async loadQueue() {
    const data = await this.app.api.get("/api/jobs?status=in_progress,pending&sort_order=asc");
    clear(this.queueList);
    for (const job of data?.jobs ?? []) {
      const running = job.status === "in_progress";
      this.queueList.append(el("li", { class: `job ${job.status}`, dataset: { id: job.id } },
        el("span", { class: "job-state", text: running ? "running" : "pending" }),
        el("span", { class: "job-id", text: String(job.id).slice(0, 8) }),
        el("button", { type: "button", class: "cancel", title: "Cancel this job",
          text: "✕", onclick: () => this.app.cancel(job.id, running) })));
    }
    document.getElementById("queue-count").textContent = String(data?.jobs?.length ?? 0);
  }

  refreshHistory() {
    this.loadHistory().catch(() => {});
  }

  async loadHistory() {
    const data = await this.app.api.get(
      "/api/jobs?status=completed,failed,cancelled&limit=30&sort_order=desc");
    clear(this.historyList);
    for (const job of data?.jobs ?? []) {
      const preview = job.preview_output;
      const item = el("li", { class: `job ${job.status}`, dataset: { id: job.id } },
        preview ? el("img", { src: this.app.api.viewUrl(preview), alt: "", loading: "lazy" })
          : el("span", { class: "no-image" }),
        el("span", { class: "job-state", text: job.status }),
        el("span", { class: "job-id", text: String(job.id).slice(0, 8) }));
      item.addEventListener("click", () => this.app.openJob(job.id));
      this.historyList.append(item);
    }
  }

  clearErrors() {
    clear(this.errors);
    this.errors.hidden = true;
  }

  /** Validation problems: one line per node and input. */
  showValidation(title, detail, byNode, nodeTitle) {
    clear(this.errors);
    const list = el("ul");
    for (const [id, errors] of Object.entries(byNode)) {
      for (const error of errors) {
        list.append(el("li", {}, el("b", { text: `#${id} ${nodeTitle(id)}` }),
          ` ${error.input ? `${error.input}: ` : ""}${error.message}`));
      }
    }
    this.errors.append(el("h3", { text: title }), detail ? el("p", { text: detail }) : null,
      list, this.closeButton());
    this.errors.hidden = false;
    this.errors.dataset.kind = "validation";
  }

  /** A failed run: node, message and the traceback folded away. */
  showExecutionError(data, nodeTitle) {
    clear(this.errors);
    const trace = Array.isArray(data.traceback) ? data.traceback.join("") : String(
      data.traceback ?? "");
    this.errors.append(
      el("h3", { text: `Error in #${data.node_id} ${nodeTitle(String(data.node_id))}` +
        ` (${data.node_type ?? ""})` }),
      el("p", { class: "lg-error", text: `${data.exception_type ?? "Error"}: ` +
        `${data.exception_message ?? ""}` }),
      el("details", {}, el("summary", { text: "Traceback" }), el("pre", { text: trace })),
      this.closeButton());
    this.errors.hidden = false;
    this.errors.dataset.kind = "execution";
  }

  /** Any other message (a file that could not be opened, a refused request). */
  showMessage(title, text) {
    clear(this.errors);
    this.errors.append(el("h3", { text: title }), el("p", { text }), this.closeButton());
    this.errors.hidden = false;
    this.errors.dataset.kind = "message";
  }

  /** Node packs that failed to load (GET /api/plugins): pack, error, nodes left out. */
  showPackProblems(packs) {
    const broken = packs.filter((p) => p.status === "failed" ||
      Object.keys(p.left_out ?? {}).length > 0);
    if (!broken.length) return;
    clear(this.errors);
    const list = el("ul");
    for (const pack of broken) {
      const why = pack.error ? `${pack.error.exception_type}: ${pack.error.message}`
        : `nodes left out: ${Object.keys(pack.left_out).join(", ")}`;
      list.append(el("li", { dataset: { pack: pack.name } }, el("b", { text: pack.name }),
        ` ${why}`));
    }
    this.errors.append(el("h3", { text: "Some node packs could not be loaded" }), list,
      el("p", { text: "The server runs without them; details at /api/plugins." }),
      this.closeButton());
    this.errors.hidden = false;
    this.errors.dataset.kind = "plugins";
  }

  closeButton() {
    return el("button", { type: "button", class: "close", text: "Dismiss",
      onclick: () => this.clearErrors() });
  }
}
