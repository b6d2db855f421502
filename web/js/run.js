// Live run state from the websocket: which job and node run, step progress, cached nodes,
// previews, output images, errors. The canvas and panels read this state. Between a node's
// `executing` and its first step (loading a model, mostly) the phase is "loading": the bar
// and the node show that something is under way without a count.

export class RunState {
  constructor() {
    /** @type {{prompt: string|null, node: string|null}} */
    this.running = { prompt: null, node: null };
    this.progress = { value: 0, max: 0 };
    /** @type {Map<string, {value: number, max: number}>} */
    this.nodeProgress = new Map();
    this.cached = new Set();
    /** @type {Map<string, HTMLImageElement>} */
    this.previews = new Map();
    /** @type {Map<string, HTMLImageElement[]>} */
    this.images = new Map();
    /** @type {Map<string, {input: string|null, message: string}[]>} */
    this.nodeErrors = new Map();
    this.mine = new Set();
    this.queueRemaining = 0;
  }

  clearPreviews() {
    for (const img of this.previews.values()) URL.revokeObjectURL(img.src);
    this.previews.clear();
  }
}

/**
 * What the running job is doing: "idle" (nothing runs), "loading" (a node runs but has
 * reported no step yet) or "stepping" (steps counted).
 * @param {{running: {prompt: string|null, node: string|null}, progress: {max: number}}} run
 */
export function runPhase(run) {
  if (!run.running.prompt) return "idle";
  if (!run.running.node || !run.progress.max) return "loading";
  return "stepping";
}

/** Node states of a ComfyUI `progress_state` message that count steps, by node id. */
export function steppingNodes(data) {
  const out = {};
  for (const [id, entry] of Object.entries(data?.nodes ?? {})) {
    const value = Number(entry?.value);
    const max = Number(entry?.max);
    if (entry?.state === "running" && Number.isFinite(value) && max > 1) {
      out[String(entry.display_node_id ?? id)] = { value, max };
    }
  }
  return out;
}

function loadImage(src, redraw) {
  const img = new Image();
  img.onload = redraw;
  img.src = src;
  return img;
}

/**
 * Wire websocket messages to the state and the editor.
 * @param {any} app
 */
export function followRuns(app) {
  const { api, run } = app;
  const on = (type, fn) => api.addEventListener(type, (e) => fn(e.detail));
  const redraw = () => app.redraw();
  let ticker = null;  // redraws the node's moving "loading" stripe
  const tick = () => {
    const loading = runPhase(run) === "loading" && run.running.node !== null;
    if (loading && ticker === null) ticker = setInterval(redraw, 80);
    if (!loading && ticker !== null) {
      clearInterval(ticker);
      ticker = null;
    }
  };
  const stepped = (id, value, max, current = id === run.running.node) => {
    run.nodeProgress.set(id, { value, max });
    if (current) run.progress = { value, max };
    app.panels.progress(run);
    tick();
    redraw();
  };
  const done = (data) => {
    finish(app, data.prompt_id);
    tick();
  };
  on("m:status", (data) => {
    run.queueRemaining = data?.status?.exec_info?.queue_remaining ?? 0;
    app.panels.refreshQueue();
  });
  on("m:execution_start", (data) => {
    run.running = { prompt: data.prompt_id, node: null };
    run.cached.clear();
    run.nodeProgress.clear();
    run.progress = { value: 0, max: 0 };
    app.clearErrors();
    app.panels.progress(run);
    app.panels.refreshQueue();
    tick();
    redraw();
  });
  on("m:execution_cached", (data) => {
    for (const id of data.nodes ?? []) run.cached.add(String(id));
    redraw();
  });
  on("m:executing", (data) => {
    const node = data.display_node ?? data.node;
    if (node === null || node === undefined) {
      done(data);
      return;
    }
    run.running.node = String(node);
    if (data.prompt_id) run.running.prompt = data.prompt_id;
    run.progress = { value: 0, max: 0 };
    app.panels.progress(run);
    tick();
    redraw();
  });
  on("m:progress", (data) => {
    const id = data.node != null ? String(data.node) : run.running.node;
    stepped(id ?? "", Number(data.value), Number(data.max), true);
  });
  on("m:progress_state", (data) => {
    if (!data?.prompt_id || data.prompt_id !== run.running.prompt) return;
    for (const [id, { value, max }] of Object.entries(steppingNodes(data))) {
      const known = run.nodeProgress.get(id);
      if (!known || known.value !== value || known.max !== max) stepped(id, value, max);
    }
  });
  on("m:executed", (data) => {
    const id = String(data.display_node ?? data.node);
    const images = data.output?.images;
    if (Array.isArray(images) && images.length) {
      run.images.set(id, images.map((img) => loadImage(app.api.viewUrl(img), redraw)));
      app.ensureImageSpace(id);
    }
    run.nodeProgress.delete(id);
    const old = run.previews.get(id);
    if (old) {
      URL.revokeObjectURL(old.src);
      run.previews.delete(id);
      app.shrinkAfterPreviews(id);
    }
    redraw();
  });
  on("m:execution_success", done);
  on("m:execution_interrupted", done);
  on("m:execution_error", (data) => {
    app.showExecutionError(data);
    done(data);
  });
  on("b:preview", (frame) => {
    const id = String(frame.meta.display_node_id ?? frame.meta.node_id ?? run.running.node);
    if (!id || id === "null") return;
    const old = run.previews.get(id);
    if (old) URL.revokeObjectURL(old.src);
    run.previews.set(id, loadImage(URL.createObjectURL(frame.blob), redraw));
    app.ensureImageSpace(id, { preview: true });
  });
}

function finish(app, promptId) {
  const { run } = app;
  if (promptId && run.running.prompt && promptId !== run.running.prompt) return;
  run.running = { prompt: null, node: null };
  run.progress = { value: 0, max: 0 };
  run.nodeProgress.clear();
  run.clearPreviews();
  app.shrinkAfterPreviews();
  app.panels.setStatus("");
  app.panels.progress(run);
  app.panels.refreshQueue();
  app.panels.refreshHistory();
  app.redraw();
}
