// Widgets litegraph lacks: an exact integer (BigInt beyond 2^53), a multiline text box and a
// note's text filling its node.

import { BaseSteppedWidget, BaseWidget } from "../vendor/litegraph/litegraph.es.js";
import { toInt } from "./bigjson.js";
import { clampInt } from "./workflow.js";
import { markdownText } from "./markdown.js";

/** An INT widget whose value is a Number when safe and a BigInt beyond 2^53. */
export class IntWidget extends BaseSteppedWidget {
  constructor(widget, node) {
    super({ ...widget, type: "int" }, node);
    this.type = "int";
    this.dragRest = 0;
  }

  get value() {
    return super.value;
  }

  set value(v) {  // digit strings (litegraph's JSON copies) come back as integers
    const n = toInt(v);
    super.value = n === undefined ? v : n;
  }

  get _displayValue() {
    return this.computedDisabled ? "" : String(this.value);
  }

  get step() {
    return BigInt(toInt(this.options.step) ?? 1) || 1n;
  }

  canIncrement() {
    const max = toInt(this.options.max);
    return max === undefined || BigInt(toInt(this.value) ?? 0) < BigInt(max);
  }

  canDecrement() {
    const min = toInt(this.options.min);
    return min === undefined || BigInt(toInt(this.value) ?? 0) > BigInt(min);
  }

  shifted(steps) {
    return BigInt(toInt(this.value) ?? 0) + BigInt(steps) * this.step;
  }

  incrementValue(options) {
    this.setValue(this.shifted(1), options);
  }

  decrementValue(options) {
    this.setValue(this.shifted(-1), options);
  }

  setValue(value, options) {
    const v = clampInt(value, this.options);
    if (v === undefined) return;
    super.setValue(v, options);
  }

  onClick({ e, node, canvas }) {
    const x = e.canvasX - node.pos[0];
    const width = this.width || node.size[0];
    const delta = x < 40 ? -1 : x > width - 40 ? 1 : 0;
    if (delta) {
      this.setValue(this.shifted(delta), { e, node, canvas });
      return;
    }
    canvas.prompt(this.displayName, String(this.value), (text) => {
      const v = clampInt(String(text).trim(), this.options);
      if (v !== undefined) this.setValue(v, { e, node, canvas });
    }, e);
  }

  onDrag({ e, node, canvas }) {
    this.dragRest += (e.deltaX ?? 0) / 4;
    const whole = Math.trunc(this.dragRest);
    if (!whole) return;
    this.dragRest -= whole;
    this.setValue(this.shifted(whole), { e, node, canvas });
  }
}

const LINE_HEIGHT = 14;

/** A multiline STRING: the text drawn in a box; a click opens a text area to edit it. */
export class TextAreaWidget extends BaseWidget {
  constructor(widget, node) {
    super({ ...widget, type: "textarea" }, node);
    this.type = "textarea";
  }

  computeSize(width) {
    return [width ?? 200, 84];
  }

  drawWidget(ctx, { width, showText }) {
    const { margin } = BaseWidget;
    const h = 80;
    const y = this.y;
    ctx.save();
    ctx.fillStyle = this.background_color;
    ctx.strokeStyle = this.outline_color;
    ctx.beginPath();
    ctx.roundRect(margin, y, width - margin * 2, h, 6);
    ctx.fill();
    if (showText) ctx.stroke();
    if (showText && !this.computedDisabled) {
      ctx.beginPath();
      ctx.rect(margin + 4, y + 2, width - margin * 2 - 8, h - 4);
      ctx.clip();
      ctx.fillStyle = this.value ? this.text_color : this.secondary_text_color;
      ctx.font = "12px sans-serif";
      ctx.textAlign = "left";
      const text = this.value ? String(this.value) : this.name;
      const lines = wrap(ctx, text, width - margin * 2 - 12).slice(0, 5);
      lines.forEach((line, k) => ctx.fillText(line, margin + 6, y + 14 + k * LINE_HEIGHT));
    }
    ctx.restore();
  }

  onClick({ e, node, canvas }) {
    canvas.prompt(this.displayName, String(this.value ?? ""), (text) => {
      this.setValue(String(text), { e, node, canvas });
    }, e, true);
  }
}

/** A note's text: wrapped to the node's width and filling its height (Markdown shown as plain
 * text when `options.markdown`); a click edits it. */
export class NoteWidget extends BaseWidget {
  constructor(widget, node) {
    super({ ...widget, type: "note" }, node);
    this.type = "note";
  }

  computeLayoutSize() {
    return { minHeight: 40, maxHeight: 1e6, minWidth: 100, maxWidth: 1e6 };
  }

  drawWidget(ctx, { width }) {
    const { margin } = BaseWidget;
    const h = Math.max(20, (this.computedHeight ?? 60) - 4);
    const y = this.y;
    ctx.save();
    ctx.beginPath();
    ctx.rect(margin, y, width - margin * 2, h);
    ctx.clip();
    ctx.fillStyle = this.value ? this.text_color : this.secondary_text_color;
    ctx.font = "13px sans-serif";
    ctx.textAlign = "left";
    const room = Math.max(1, Math.floor((h - 4) / NOTE_LINE_HEIGHT));
    const raw = this.value ? String(this.value) : "";
    const text = !raw ? "(click to write a note)"
      : this.options?.markdown ? markdownText(raw) : raw;
    wrap(ctx, text, width - margin * 2 - 8, room + 1).slice(0, room)
      .forEach((line, k) => ctx.fillText(line, margin + 4, y + 14 + k * NOTE_LINE_HEIGHT));
    ctx.restore();
  }

  onClick({ e, node, canvas }) {
    canvas.prompt(node.title ?? "Note", String(this.value ?? ""), (text) => {
      this.setValue(String(text), { e, node, canvas });
    }, e, true);
  }
}

const NOTE_LINE_HEIGHT = 17;

function wrap(ctx, text, width, most = 6) {
  const lines = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      const candidate = line ? `${line} ${word}` : word;
      if (ctx.measureText(candidate).width > width && line) {
        lines.push(line);
        line = word;
      } else {
        line = candidate;
      }
    }
    lines.push(line);
    if (lines.length > most) break;
  }
  return lines;
}
