// Queueing and its outcome: the API prompt, batch count, control-after-generate, validation
// and execution errors on nodes, cancel, re-sync after a reconnect. Mixed into the App.
// The UI workflow becomes an API prompt on the server (POST /api/workflow/convert), the one
// converter there is: notes, primitives, reroutes, bypassed and muted nodes and subgraphs are
// handled as ComfyUI does; integers beyond 2^53 travel exactly both ways (bigjson).

import { conversionProblem, errorsByNode, nextControlValue, promptBody } from "./workflow.js";

/** @type {Record<string, Function>} */
export const queueMethods = {

  clearErrors() {
    this.run.nodeErrors.clear();
    for (const node of this.graph?._nodes ?? []) {
      if (node.lgFlagged) {
        node.has_errors = Boolean(node.lgMissing);
        node.lgFlagged = false;
      }
    }
    this.panels.clearErrors();
    this.redraw();
  },

  flagNodes(byNode) {
    for (const [id, errors] of Object.entries(byNode)) {
      this.run.nodeErrors.set(String(id), errors);
      const node = this.getNode(id);
      if (node) {
        node.has_errors = true;
        node.lgFlagged = true;
      }
    }
    this.redraw();
  },

  showExecutionError(data) {
    const id = String(data.node_id);
    this.flagNodes({ [id]: [{ input: null, message: String(data.exception_message ?? "") }] });
    this.panels.showExecutionError(data, (n) => this.nodeTitle(n));
  },

  /** The API prompt of a UI workflow, converted by the server. */
  async toPrompt(workflow) {
    const reply = await this.api.post("/api/workflow/convert", { workflow });
    return reply.prompt;
  },

  /** Queue the graph `count` times (the batch count), advancing seeds after each. */
  async queue(count) {
    const times = count ?? Math.max(1, Number(document.getElementById("batch-count").value) || 1);
    this.clearErrors();
    for (let k = 0; k < times; k++) {
      const workflow = this.snapshot();
      let prompt;
      try {
        prompt = await this.toPrompt(workflow);
      } catch (error) {
        this.showQueueError(error);
        return null;
      }
      let reply;
      try {
        reply = await this.api.post("/api/prompt", promptBody(this.api.clientId, prompt, workflow));
      } catch (error) {
        this.showQueueError(error);
        return null;
      }
      this.run.mine.add(reply.prompt_id);
      const partial = errorsByNode(reply.node_errors);
      if (Object.keys(partial).length) this.flagNodes(partial);
      this.applyControls();
      this.panels.setStatus(`queued ${String(reply.prompt_id).slice(0, 8)}`);
      this.panels.refreshQueue();
      this.lastPromptId = reply.prompt_id;
    }
    return this.lastPromptId;
  },

  showQueueError(error) {
    const body = error.body ?? {};
    const byNode = errorsByNode(body.node_errors);
    const problem = conversionProblem(body);
    if (problem) {
      if (problem.node !== null) this.flagNodes({ [problem.node]: [{ input: null,
        message: problem.message }] });
      this.panels.showMessage("The workflow cannot be converted", problem.node === null
        ? problem.message : `#${problem.node} ${this.nodeTitle(problem.node)}: ${problem.message}`);
    } else if (Object.keys(byNode).length) {
      this.flagNodes(byNode);
      this.panels.showValidation("The workflow is not valid", error.message, byNode,
        (id) => this.nodeTitle(id));
    } else if (error.status !== 401) {
      this.panels.showMessage("The server refused the workflow", error.message);
    }
  },

  /** Control-after-generate: advance each controlled widget, as after queueing in ComfyUI
   * (a Primitive's too, which then passes its new value on). */
  applyControls() {
    for (const node of this.graph._nodes) {
      for (const control of node.widgets ?? []) {
        if (!control.lgControlFor) continue;
        const target = node.widgets.find((w) => w.name === control.lgControlFor);
        const linked = node.inputs?.some((i) => i.widget?.name === target?.name && i.link != null);
        if (!target || linked) continue;
        target.value = nextControlValue(target.value, control.value, target.lgSpec);
        node.applyToTargets?.();
      }
    }
    this.changed();
    this.redraw();
  },

  async cancel(id, running) {
    if (running) await this.api.post("/api/interrupt", { prompt_id: id });
    else await this.api.post("/api/queue", { delete: [id] });
    this.panels.refreshQueue();
  },

  async cancelCurrent() {
    if (this.run.running.prompt) await this.cancel(this.run.running.prompt, true);
  },

  /** After a reconnect (e.g. a server restart): take the run state from /jobs. */
  async resync() {
    try {
      const data = await this.api.get("/api/jobs?status=in_progress");
      const running = data?.jobs?.[0]?.id ?? null;
      if (running !== this.run.running.prompt) {
        this.run.running = { prompt: running, node: null };
        this.run.progress = { value: 0, max: 0 };
        this.run.clearPreviews();
        this.panels.progress(this.run);
      }
      this.panels.refreshQueue();
      this.panels.refreshHistory();
      this.redraw();
    } catch {
      // the next reconnect tries again
    }
  },
};
