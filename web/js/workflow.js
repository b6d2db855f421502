// Pure helpers for node definitions, widget values and the two workflow formats
// (ComfyUI's UI format v0.4 and the API prompt). No DOM and no litegraph: unit-tested in node.
// UI → API is the server's job (POST /api/workflow/convert); API → UI (opening an API-format
// file or a PNG holding only a prompt) is laid out here.

import { toInt } from "./bigjson.js";

export const CONTROL_MODES = ["fixed", "increment", "decrement", "randomize"];
export const WIDGET_TYPES = new Set(["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"]);

/**
 * @typedef {{name: string, type: string, options: Record<string, any>, values?: any[],
 *   optional: boolean, isWidget: boolean}} InputSpec
 * @typedef {{name: string, kind: "value"|"control"|"upload", spec: InputSpec}} WidgetSlot
 */

/**
 * The inputs of an /object_info definition in declaration order (required, then optional).
 * @param {Record<string, any>} def
 * @returns {InputSpec[]}
 */
export function inputSpecs(def) {
  const specs = [];
  for (const section of ["required", "optional"]) {
    const inputs = def?.input?.[section] ?? {};
    const order = def?.input_order?.[section] ?? Object.keys(inputs);
    for (const name of order) {
      const raw = inputs[name];
      if (raw === undefined) continue;
      let [type, options] = Array.isArray(raw) ? raw : [raw];
      options = options && typeof options === "object" ? options : {};
      let values;
      if (Array.isArray(type)) {
        values = type;
        type = "COMBO";
      } else if (type === "COMBO") {
        values = Array.isArray(options.options) ? options.options : [];
      }
      type = String(type);
      const isWidget = WIDGET_TYPES.has(type) && !options.forceInput;
      specs.push({ name, type, options, values, optional: section === "optional", isWidget });
    }
  }
  return specs;
}

/**
 * The widgets of a node in `widgets_values` order: each widget input, then its UI-only
 * companions (the control-after-generate mode, LoadImage's upload button).
 * @param {Record<string, any>} def
 * @returns {WidgetSlot[]}
 */
export function widgetLayout(def) {
  const slots = [];
  for (const spec of inputSpecs(def)) {
    if (!spec.isWidget) continue;
    slots.push({ name: spec.name, kind: "value", spec });
    if (spec.options.control_after_generate) {
      slots.push({ name: "control_after_generate", kind: "control", spec });
    }
    if (spec.options.image_upload) slots.push({ name: "upload", kind: "upload", spec });
  }
  return slots;
}

/**
 * The value a fresh widget starts with.
 * @param {InputSpec} spec
 */
export function defaultValue(spec) {
  const { options, type } = spec;
  if (type === "COMBO") {
    const values = spec.values ?? [];
    return options.default !== undefined && values.includes(options.default)
      ? options.default : (values[0] ?? "");
  }
  if (type === "INT") {
    const d = toInt(options.default);
    if (d !== undefined) return d;
    const min = toInt(options.min);
    return min !== undefined && min > 0 ? min : 0;
  }
  if (type === "FLOAT") return typeof options.default === "number" ? options.default : 0;
  if (type === "BOOLEAN") return options.default === true;
  if (type === "STRING") return typeof options.default === "string" ? options.default : "";
  return options.default ?? null;
}

/** The control mode a fresh control widget starts with (ComfyUI: randomize). */
export function defaultControl(spec) {
  const v = spec.options.control_after_generate;
  return typeof v === "string" && CONTROL_MODES.includes(v) ? v : "randomize";
}

/**
 * An INT widget value clamped into [min, max] (BigInt-safe), or undefined if not an integer.
 * @param {unknown} value
 * @param {Record<string, any>} options
 */
export function clampInt(value, options) {
  let v = toInt(value);
  if (v === undefined) return undefined;
  const big = BigInt(v);
  const min = toInt(options.min);
  const max = toInt(options.max);
  if (min !== undefined && big < BigInt(min)) v = min;
  else if (max !== undefined && big > BigInt(max)) v = max;
  return toInt(v);
}

/** A uniformly random BigInt in [0, span] (span ≤ 2^64). */
function randomBig(span, randomWords) {
  if (span <= 0n) return 0n;
  const words = randomWords(2);
  const r = (BigInt(words[0]) << 32n) | BigInt(words[1]);
  return r % (span + 1n);
}

function cryptoWords(n) {
  return Array.from(globalThis.crypto.getRandomValues(new Uint32Array(n)));
}

/**
 * The next value of a widget after queueing, by its control mode (ComfyUI's
 * control-after-generate). Integers stay exact up to 2^64-1.
 * @param {any} value
 * @param {string} mode
 * @param {InputSpec} spec
 * @param {(n: number) => number[]} [randomWords] n random uint32s (tests inject one)
 */
export function nextControlValue(value, mode, spec, randomWords = cryptoWords) {
  if (mode === "fixed" || !CONTROL_MODES.includes(mode)) return value;
  if (spec.type === "COMBO") {
    const values = spec.values ?? [];
    if (!values.length) return value;
    let k = values.indexOf(value);
    if (mode === "increment") k = Math.min(k + 1, values.length - 1);
    else if (mode === "decrement") k = Math.max(k - 1, 0);
    else k = Number(randomBig(BigInt(values.length - 1), randomWords));
    return values[k];
  }
  const opts = spec.options;
  if (spec.type === "FLOAT") {
    const step = Number(opts.step ?? 0.01);
    const min = Number(opts.min ?? 0);
    const max = Number(opts.max ?? 1);
    let v = Number(value);
    if (mode === "increment") v += step;
    else if (mode === "decrement") v -= step;
    else v = min + (Number(randomBig(1000000n, randomWords)) / 1000000) * (max - min);
    return Math.min(Math.max(v, min), max);
  }
  const min = BigInt(toInt(opts.min) ?? 0);
  const max = BigInt(toInt(opts.max) ?? Number.MAX_SAFE_INTEGER);
  const step = BigInt(toInt(opts.step) ?? 1) || 1n;
  let v = BigInt(toInt(value) ?? 0);
  if (mode === "increment") v += step;
  else if (mode === "decrement") v -= step;
  else v = min + randomBig((max - min) / step, randomWords) * step;
  if (v < min) v = min;
  if (v > max) v = max;
  return toInt(v);
}

function isControlValue(v) {
  return typeof v === "boolean" || CONTROL_MODES.includes(v);
}

/**
 * Widget values of a saved node by widget name (positional or named `widgets_values`).
 * Workflows saved before a seed had a control mode lack that slot; it is skipped only
 * when it holds a control value, as the server's converter does.
 * @param {Record<string, any>} def
 * @param {any} saved
 * @returns {Record<string, any>}
 */
export function widgetValuesByName(def, saved) {
  const layout = widgetLayout(def);
  const out = {};
  if (saved && !Array.isArray(saved) && typeof saved === "object") {
    for (const slot of layout) {
      if (slot.kind === "value" && slot.name in saved) out[slot.name] = saved[slot.name];
    }
    return out;
  }
  const values = Array.isArray(saved) ? saved : [];
  let k = 0;
  for (const slot of layout) {
    if (slot.kind === "value") {
      if (k < values.length) out[slot.name] = values[k];
      k++;
    } else if (slot.kind === "control") {
      if (k < values.length && isControlValue(values[k])) {
        out[`${slot.spec.name}.control_after_generate`] = values[k];
        k++;
      }
    } else {
      k++;
    }
  }
  return out;
}

/** Longest distance from a source node, for laying out an API prompt left to right. */
function depths(prompt) {
  const memo = new Map();
  const depth = (id, stack = new Set()) => {
    if (memo.has(id)) return memo.get(id);
    if (stack.has(id)) return 0;
    stack.add(id);
    let d = 0;
    for (const v of Object.values(prompt[id]?.inputs ?? {})) {
      if (Array.isArray(v) && typeof v[0] === "string" && v[0] in prompt) {
        d = Math.max(d, depth(v[0], stack) + 1);
      }
    }
    stack.delete(id);
    memo.set(id, d);
    return d;
  };
  for (const id of Object.keys(prompt)) depth(id);
  return memo;
}

/**
 * An API prompt to a UI workflow (v0.4) with a simple left-to-right layout.
 * @param {Record<string, any>} prompt
 * @param {Record<string, any>} defs
 */
export function promptToWorkflow(prompt, defs) {
  const ids = Object.keys(prompt);
  const numeric = new Map();
  let next = Math.max(0, ...ids.map((id) => (/^\d+$/.test(id) ? Number(id) : 0))) + 1;
  for (const id of ids) numeric.set(id, /^\d+$/.test(id) ? Number(id) : next++);
  const level = depths(prompt);
  const rows = new Map();
  const nodes = [];
  const links = [];
  const outputsById = new Map();
  for (const id of ids) {
    const entry = prompt[id];
    const def = defs[entry.class_type] ?? {};
    const outputs = (def.output ?? []).map((type, k) => ({
      name: def.output_name?.[k] ?? String(type), type, links: [], slot_index: k,
    }));
    outputsById.set(id, outputs);
  }
  for (const id of ids) {
    const entry = prompt[id];
    const def = defs[entry.class_type];
    const column = level.get(id) ?? 0;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    const node = {
      id: numeric.get(id), type: entry.class_type, pos: [50 + column * 360, 50 + row * 280],
      size: [320, 200], flags: {}, order: 0, mode: 0, inputs: [],
      outputs: outputsById.get(id), properties: { "Node name for S&R": entry.class_type },
    };
    const title = entry._meta?.title;
    if (title && title !== def?.display_name) node.title = title;
    const given = entry.inputs ?? {};
    const specs = def ? inputSpecs(def) : Object.keys(given).map((name) => ({
      name, type: "*", options: {}, isWidget: !Array.isArray(given[name]),
    }));
    for (const spec of specs) {
      const v = given[spec.name];
      const linked = Array.isArray(v) && v.length === 2 && String(v[0]) in prompt;
      if (!spec.isWidget && !linked) {
        node.inputs.push({ name: spec.name, type: spec.type, link: null });
        continue;
      }
      const slot = { name: spec.name, type: spec.type, link: null };
      if (spec.isWidget) slot.widget = { name: spec.name };
      if (linked) {
        const linkId = links.length + 1;
        const [src, srcSlot] = v;
        links.push([linkId, numeric.get(String(src)), srcSlot, node.id, node.inputs.length,
          spec.type]);
        slot.link = linkId;
        outputsById.get(String(src))?.[srcSlot]?.links.push(linkId);
      }
      node.inputs.push(slot);
    }
    if (def) {
      node.widgets_values = widgetLayout(def).map((slot) => {
        if (slot.kind === "control") return "fixed";
        if (slot.kind === "upload") return "image";
        const v = given[slot.name];
        if (v === undefined || Array.isArray(v)) return defaultValue(slot.spec);
        return v && typeof v === "object" && "__value__" in v ? v.__value__ : v;
      });
    } else {
      node.widgets_values = Object.values(given).filter((v) => !Array.isArray(v));
    }
    nodes.push(node);
  }
  return {
    last_node_id: Math.max(0, ...nodes.map((n) => n.id)), last_link_id: links.length,
    nodes, links, groups: [], config: {}, extra: {}, version: 0.4,
  };
}

/**
 * What kind of document a parsed JSON file is.
 * @returns {"workflow"|"prompt"|"request"|null}
 */
export function documentKind(data) {
  if (!data || typeof data !== "object" || Array.isArray(data)) return null;
  if (Array.isArray(data.nodes)) return "workflow";
  if (data.prompt && typeof data.prompt === "object" && !Array.isArray(data.prompt)) {
    return "request";
  }
  const entries = Object.values(data);
  if (entries.length && entries.every((e) => e && typeof e === "object" && "class_type" in e)) {
    return "prompt";
  }
  return null;
}

/**
 * The live-preview method the editor asks for with every prompt: the server sends sampler
 * previews only when a prompt asks (ComfyUI's `extra_data.preview_method`) or it runs with
 * `--preview-method`; "auto" is the latent→RGB projection.
 */
export const PREVIEW_METHOD = "auto";

/**
 * The body of `POST /api/prompt` for an API prompt and the UI workflow it came from: the
 * workflow rides along for the saved PNG's metadata, and the prompt asks for live previews.
 */
export function promptBody(clientId, prompt, workflow) {
  return {
    client_id: clientId, prompt,
    extra_data: { extra_pnginfo: { workflow }, preview_method: PREVIEW_METHOD },
  };
}

/**
 * Validation problems of a /prompt reply by node id, each {input, message}.
 * @param {Record<string, any>} nodeErrors the reply's `node_errors`
 */
export function errorsByNode(nodeErrors) {
  const out = {};
  for (const [id, entry] of Object.entries(nodeErrors ?? {})) {
    out[id] = (entry?.errors ?? []).map((e) => ({
      input: e?.extra_info?.input_name ?? null,
      message: [e?.message, e?.details].filter(Boolean).join(": "),
    }));
  }
  return out;
}

/**
 * The problem of a refused conversion (`POST /api/workflow/convert` answered 400 with
 * `invalid_workflow`): the top-level node at fault (a node inside a subgraph is shown on its
 * instance) and the message, or null when the reply is about something else.
 * @param {any} body the reply
 * @returns {{node: string|null, message: string}|null}
 */
export function conversionProblem(body) {
  const error = body?.error;
  if (!error || typeof error !== "object" || error.type !== "invalid_workflow") return null;
  const info = error.extra_info ?? {};
  const id = info.node_id;
  const node = id === null || id === undefined || id === "" ? null : String(id).split(":")[0];
  const message = String(info.reason || error.details || error.message || "cannot be converted");
  return { node, message };
}
