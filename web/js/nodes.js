// Litegraph node types generated from /object_info, and how a node shows its run state.

import { LGraphNode, LiteGraph } from "../vendor/litegraph/litegraph.es.js";
import { IntWidget, TextAreaWidget } from "./widgets.js";
import {
  CONTROL_MODES, defaultControl, defaultValue, inputSpecs, widgetValuesByName,
} from "./workflow.js";
import { drawNodeState } from "./node_state.js";

/**
 * Add the widgets (and their widget input slots) of a definition to a fresh node.
 * @param {LGraphNode} node
 * @param {Record<string, any>} def
 * @param {any} app the editor (uploads)
 */
function buildNode(node, def, app) {
  const noop = () => {};
  for (const spec of inputSpecs(def)) {
    if (!spec.isWidget) {
      node.addInput(spec.name, spec.type, spec.optional ? { shape: LiteGraph.ROUND_SHAPE } : {});
      continue;
    }
    addValueWidget(node, spec);
    if (spec.options.control_after_generate) {
      const w = node.addWidget("combo", "control_after_generate", defaultControl(spec), noop,
        { values: CONTROL_MODES });
      w.lgControlFor = spec.name;
      w.lgNotInPrompt = true;
    }
    if (spec.options.image_upload) {
      const w = node.addWidget("button", "upload", "image", () => app.pickUpload(node), {});
      w.label = "choose file to upload";
      w.lgNotInPrompt = true;
    }
    node.addInput(spec.name, spec.type, { widget: { name: spec.name } });
  }
  (def.output ?? []).forEach((type, k) => {
    const name = def.output_name?.[k] ?? String(type);
    node.addOutput(name, type, def.output_is_list?.[k] ? { shape: LiteGraph.GRID_SHAPE } : {});
  });
  const size = node.computeSize();
  node.size = [Math.max(size[0], 260), size[1]];
}

/**
 * Add the widget of one widget input (also used by the Primitive node for the widget it feeds).
 * @param {LGraphNode} node
 * @param {import("./workflow.js").InputSpec} spec
 */
export function addValueWidget(node, spec) {
  const { options, type, name } = spec;
  const value = defaultValue(spec);
  const noop = () => {};
  let widget;
  if (type === "INT") {
    widget = node.addCustomWidget(new IntWidget({ name, value, options: { ...options } }, node));
  } else if (type === "FLOAT") {
    const step = Number(options.step ?? options.round ?? 0.01);
    const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(step || 0.01) + 1e-9)));
    widget = node.addWidget("number", name, value, noop, {
      min: options.min, max: options.max, step2: step, precision: decimals, round: options.round,
    });
  } else if (type === "BOOLEAN") {
    widget = node.addWidget("toggle", name, value, noop, {
      on: options.label_on ?? "true", off: options.label_off ?? "false",
    });
  } else if (type === "COMBO") {
    widget = node.addWidget("combo", name, value, noop, { values: [...(spec.values ?? [])] });
  } else if (options.multiline) {
    widget = node.addCustomWidget(new TextAreaWidget({ name, value, options: {} }, node));
  } else {
    widget = node.addWidget("text", name, value, noop, {});
  }
  widget.lgSpec = spec;
  if (options.tooltip) widget.tooltip = String(options.tooltip);
  return widget;
}

/** After loading saved data: widget slots for old files, values mapped by name. */
function configureNode(node, def, info) {
  const values = widgetValuesByName(def, info.widgets_values);
  for (const widget of node.widgets ?? []) {
    if (widget.lgControlFor) {
      const saved = values[`${widget.lgControlFor}.control_after_generate`];
      widget.value = CONTROL_MODES.includes(saved) ? saved
        : saved === true ? "randomize" : widget.value;
    } else if (widget.lgSpec && widget.name in values) {
      widget.value = values[widget.name];
    } else if (widget.lgNotInPrompt) {
      widget.value = "image";
    }
  }
  node.inputs ??= [];
  for (const spec of inputSpecs(def)) {
    if (!spec.isWidget || node.inputs.some((i) => i.widget?.name === spec.name)) continue;
    node.addInput(spec.name, spec.type, { widget: { name: spec.name } });
  }
}

/**
 * Register one litegraph node type per definition.
 * @param {Record<string, any>} defs
 * @param {any} app
 */
export function registerNodeTypes(defs, app) {
  for (const [type, def] of Object.entries(defs)) {
    app.extensions.call("beforeRegisterNodeDef", null, def);
    class ComfyNode extends LGraphNode {
      static title = String(def.display_name || type);
      static comfyClass = type;
      static nodeData = def;

      constructor(title) {
        super(title ?? ComfyNode.title);
        this.serialize_widgets = true;
        this.lgDef = def;
        if (def.description) this.description = String(def.description);
        buildNode(this, def, app);
      }

      configure(info) {  // saved slots replace the fresh ones (litegraph would merge them)
        if (Array.isArray(info.inputs)) this.inputs = [];
        if (Array.isArray(info.outputs)) this.outputs = [];
        super.configure(info);
      }

      onConfigure(info) {
        configureNode(this, def, info);
        app.nodeChanged(this);
      }

      onWidgetChanged(name) {
        if (name === "image" && def.input?.required?.image?.[1]?.image_upload) {
          app.showInputThumbnail(this);
        }
        app.nodeChanged(this);
      }

      onAdded() {
        if (def.input?.required?.image?.[1]?.image_upload) app.showInputThumbnail(this);
      }

      onDrawForeground(ctx) {
        drawNodeState(this, ctx, app);
      }
    }
    LiteGraph.registerNodeType(type, ComfyNode);
    ComfyNode.category = String(def.category ?? "");
    ComfyNode.title = String(def.display_name || type);
    app.extensions.call("registeredNodeType", ComfyNode, def);
  }
}

/** Flag nodes whose type is unknown here (kept and saved back unchanged). */
export function flagMissingNodes(graph, app) {
  const missing = [];
  for (const node of graph._nodes) {
    if (node.last_serialization && node.constructor === LGraphNode) {
      const type = String(node.last_serialization.type ?? "");
      node.lgMissing = type;
      node.title = node.last_serialization.title ?? type;
      node.onDrawForeground = (ctx) => drawNodeState(node, ctx, app);
      missing.push(type);
    }
  }
  return [...new Set(missing)];
}
