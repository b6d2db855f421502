// Drawing a node's run state on the canvas: running outline and step bar (a moving stripe and
// "loading…" until the first step), cached mark, validation messages next to inputs, a
// missing-type banner, bypassed/muted shading, output images and previews.
// Canvas text is drawn as text; nothing here touches the DOM.

import { LiteGraph } from "../vendor/litegraph/litegraph.es.js";
import { BYPASS, MUTED, modeLabel } from "./modes.js";

const RUNNING = "#3fd06a";
const ERROR = "#ff4d4d";

function imageArea(node) {
  let top = 0;
  for (const w of node.widgets ?? []) {
    const y = (w.last_y ?? w.y ?? 0) + (w.computedHeight ?? LiteGraph.NODE_WIDGET_HEIGHT);
    top = Math.max(top, y);
  }
  const slots = Math.max(node.inputs?.filter((i) => !i.widget).length ?? 0,
    node.outputs?.length ?? 0);
  top = Math.max(top, slots * LiteGraph.NODE_SLOT_HEIGHT + 6) + 4;
  return { top, height: node.size[1] - top - 4 };
}

function drawImage(ctx, node, image) {
  if (!image?.complete || !image.naturalWidth) return;
  const { top, height } = imageArea(node);
  if (height < 16) return;
  const width = node.size[0] - 8;
  const scale = Math.min(width / image.naturalWidth, height / image.naturalHeight);
  const w = image.naturalWidth * scale;
  const h = image.naturalHeight * scale;
  ctx.drawImage(image, 4 + (width - w) / 2, top + (height - h) / 2, w, h);
}

/**
 * @param {any} node
 * @param {CanvasRenderingContext2D} ctx
 * @param {any} app
 */
export function drawNodeState(node, ctx, app) {
  const state = app.run;
  const id = String(node.id);
  const titleH = LiteGraph.NODE_TITLE_HEIGHT;
  const [w, h] = node.size;
  ctx.save();
  const preview = state.previews.get(id);
  const images = state.images.get(id);
  if (preview) drawImage(ctx, node, preview);
  else if (images?.length) drawImage(ctx, node, images[images.length - 1]);
  if (state.running.node === id) {
    ctx.strokeStyle = RUNNING;
    ctx.lineWidth = 3;
    ctx.strokeRect(-4, -titleH - 4, w + 8, h + titleH + 8);
    const { value, max } = state.nodeProgress.get(id) ?? {};
    if (max) {
      ctx.fillStyle = RUNNING;
      ctx.fillRect(0, h - 5, (w * value) / max, 5);
    } else {  // no step yet: loading (a model, most often)
      const stripe = Math.max(24, w / 4);
      const x = ((performance.now() / 4) % (w + stripe)) - stripe;
      const [x0, x1] = [Math.max(0, x), Math.min(w, x + stripe)];
      ctx.fillStyle = RUNNING;
      if (x1 > x0) ctx.fillRect(x0, h - 5, x1 - x0, 5);
      ctx.font = "11px sans-serif";
      ctx.textAlign = "right";
      ctx.fillText("loading…", w - 6, -titleH + 14);
    }
  } else if (state.cached.has(id)) {
    ctx.fillStyle = "#8888";
    ctx.font = "11px sans-serif";
    ctx.textAlign = "right";
    ctx.fillText("cached", w - 6, -titleH + 14);
  }
  if (node.mode === BYPASS || node.mode === MUTED) drawMode(ctx, node, titleH);
  if (node.lgMissing) {
    ctx.fillStyle = ERROR;
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "left";
    ctx.fillText(`Unknown node type: ${node.lgMissing}`, 0, -titleH - 8);
  }
  const errors = state.nodeErrors.get(id);
  if (errors?.length) drawErrors(ctx, node, errors, titleH);
  ctx.restore();
}

/** Bypassed: a purple wash; muted: a grey one; and the word, above the title. */
function drawMode(ctx, node, titleH) {
  const [w, h] = node.size;
  ctx.fillStyle = node.mode === BYPASS ? "#ff00ff33" : "#11111199";
  ctx.fillRect(0, -titleH, w, h + titleH);
  ctx.fillStyle = node.mode === BYPASS ? "#ff7bff" : "#aaa";
  ctx.font = "bold 11px sans-serif";
  ctx.textAlign = "right";
  ctx.fillText(modeLabel(node.mode), w, -titleH - 6);
}

/** Each message left of the node, level with the input it is about (right-aligned). */
function drawErrors(ctx, node, errors, titleH) {
  ctx.font = "12px sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  let free = 0;
  for (const error of errors) {
    let y = null;
    const slot = node.inputs?.findIndex((i) => i.name === error.input) ?? -1;
    if (slot >= 0) {
      const input = node.inputs[slot];
      const widget = input.widget && node.widgets?.find((x) => x.name === input.widget.name);
      y = widget ? (widget.last_y ?? widget.y) + LiteGraph.NODE_WIDGET_HEIGHT / 2
        : node.getConnectionPos(true, slot)[1] - node.pos[1];
    }
    if (y === null) y = -titleH / 2 + 18 * free++;
    const text = `${error.input ? `${error.input}: ` : ""}${error.message}`;
    const width = Math.min(ctx.measureText(text).width, 420);
    ctx.fillStyle = "#3a1214ee";
    ctx.fillRect(-width - 22, y - 9, width + 12, 18);
    ctx.fillStyle = ERROR;
    ctx.fillText(text, -14, y, 420);
  }
}
