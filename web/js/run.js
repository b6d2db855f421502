// Live run state from the websocket: which job and node run, step progress, cached nodes,
// previews, output images, errors. The canvas and panels read this state.

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
    redraw();
  });
  on("m:execution_cached", (data) => {
    for (const id of data.nodes ?? []) run.cached.add(String(id));
    redraw();
  });
  on("m:executing", (data) => {
    const node = data.display_node ?? data.node;
    if (node === null || node === undefined) {
      finish(app, data.prompt_id);
      return;
    }
    run.running.node = String(node);
    if (data.prompt_id) run.running.prompt = data.prompt_id;
    run.progress = { value: 0, max: 0 };
    app.panels.progress(run);
    redraw();
  });
  on("m:progress", (data) => {
    run.progress = { value: Number(data.value), max: Number(data.max) };
    if (data.node != null) run.nodeProgress.set(String(data.node), run.progress);
    app.panels.progress(run);
    redraw();
  });
  on("m:executed", (data) => {
    const id = String(data.display_node ?? data.node);
    const images = data.output?.images;
    if (Array.isArray(images) && images.length) {
      run.images.set(id, images.map((img) => loadImage(app.api.viewUrl(img), redraw)));
      app.ensureImageSpace(id);
    }
    const old = run.previews.get(id);
    if (old) {
      URL.revokeObjectURL(old.src);
      run.previews.delete(id);
    }
    redraw();
  });
  on("m:execution_success", (data) => finish(app, data.prompt_id));
  on("m:execution_interrupted", (data) => finish(app, data.prompt_id));
  on("m:execution_error", (data) => {
    app.showExecutionError(data);
    finish(app, data.prompt_id);
  });
  on("b:preview", (frame) => {
    const id = String(frame.meta.display_node_id ?? frame.meta.node_id ?? run.running.node);
    if (!id || id === "null") return;
    const old = run.previews.get(id);
    if (old) URL.revokeObjectURL(old.src);
    run.previews.set(id, loadImage(URL.createObjectURL(frame.blob), redraw));
    app.ensureImageSpace(id);
  });
}

function finish(app, promptId) {
  const { run } = app;
  if (promptId && run.running.prompt && promptId !== run.running.prompt) return;
  run.running = { prompt: null, node: null };
  run.progress = { value: 0, max: 0 };
  run.clearPreviews();
  app.panels.progress(run);
  app.panels.refreshQueue();
  app.panels.refreshHistory();
  app.redraw();
}
