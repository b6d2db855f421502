// The editor-only node types of ComfyUI's frontend: Note and MarkdownNote (text), Reroute (a
// link passed through) and PrimitiveNode (one value driving the widgets it is linked to).
// They are saved in the workflow like any node; the server's converter leaves notes out,
// follows reroutes and writes a primitive's value into each widget it feeds.

import { LGraphCanvas, LGraphNode, LiteGraph } from "../vendor/litegraph/litegraph.es.js";
import { NoteWidget } from "./widgets.js";
import { addValueWidget } from "./nodes.js";
import { CONTROL_MODES, defaultControl } from "./workflow.js";
import { drawNodeState } from "./node_state.js";
import { primitiveAccepts, rerouteType } from "./wiring.js";

const CONTROLLED = new Set(["INT", "FLOAT", "COMBO"]);
const UNCONNECTED = "connect to widget input";

/** What the palette lists for these types (the shape of an /object_info entry). */
export const VIRTUAL_DEFS = {
  Note: { display_name: "Note", category: "utils", output: [], description:
    "A text note; it is not part of the prompt." },
  MarkdownNote: { display_name: "Markdown Note", category: "utils", output: [], description:
    "A text note (Markdown); it is not part of the prompt." },
  PrimitiveNode: { display_name: "Primitive", category: "utils", output: ["*"], description:
    "One value for the widget inputs it is linked to." },
  Reroute: { display_name: "Reroute", category: "utils", input: { required: { "": ["*"] } },
    output: ["*"], description: "Passes a link through, to tidy the wires." },
};

function noteType(title, markdown, app) {
  return class extends LGraphNode {
    static title = title;
    static category = "utils";

    constructor(name) {
      super(name ?? title);
      this.color = LGraphCanvas.node_colors.yellow.color;
      this.bgcolor = LGraphCanvas.node_colors.yellow.bgcolor;
      this.isVirtualNode = true;
      this.serialize_widgets = true;
      this.addCustomWidget(new NoteWidget({ name: "text", value: "", options: { markdown } },
        this));
      this.size = [400, 160];
    }

    onWidgetChanged() {
      app.nodeChanged(this);
    }
  };
}

/** The widget inputs a node's output feeds, following Reroute nodes. */
function widgetTargets(graph, node, seen = new Set()) {
  const found = [];
  if (!graph || seen.has(node.id)) return found;
  seen.add(node.id);
  for (const id of node.outputs?.[0]?.links ?? []) {
    const link = graph._links.get(id);
    const target = link && graph.getNodeById(link.target_id);
    if (!target) continue;
    if (target.type === "Reroute") {
      found.push(...widgetTargets(graph, target, seen));
      continue;
    }
    const input = target.inputs?.[link.target_slot];
    const widget = input?.widget && target.widgets?.find((w) => w.name === input.widget.name);
    if (widget) found.push({ node: target, widget });
  }
  return found;
}

function primitiveType(app) {
  return class PrimitiveNode extends LGraphNode {
    static title = "Primitive";
    static category = "utils";

    constructor(name) {
      super(name ?? "Primitive");
      this.addOutput(UNCONNECTED, "*");
      this.serialize_widgets = true;
      this.isVirtualNode = true;
      this.properties ??= {};
      this.properties["Run widget replace on values"] ??= false;
      this.lgSpec = null;
      this.lgSaved = null;
    }

    onConfigure(info) {
      this.lgSaved = Array.isArray(info.widgets_values) ? [...info.widgets_values] : null;
    }

    /** Called by the editor once the whole graph is loaded (targets configured). */
    onAfterGraphConfigured() {
      if (this.outputs[0].links?.length && !this.widgets?.length) this.setUp(this.lgSaved);
    }

    onConnectOutput(_slot, _type, input, target) {
      const widget = input?.widget && target.widgets?.find((w) => w.name === input.widget.name);
      return primitiveAccepts(this.lgSpec, widget?.lgSpec ?? null);
    }

    onConnectionsChange(kind, _slot, connected) {
      if (kind !== LiteGraph.OUTPUT || app.configuring) return;
      const links = this.outputs[0].links ?? [];
      if (connected && links.length && !this.widgets?.length) this.setUp(null);
      else if (connected) this.applyToTargets();
      else if (!links.length) this.tearDown();
    }

    /** Take the type, options and value of the first widget this node feeds. */
    setUp(saved) {
      const [first] = widgetTargets(this.graph, this);
      const spec = first?.widget.lgSpec;
      if (!spec) return;
      const [width, height] = this.size;
      this.lgSpec = spec;
      const output = this.outputs[0];
      output.type = spec.type;
      output.name = spec.type;
      output.widget = { name: first.widget.name };
      const widget = addValueWidget(this, { ...spec, name: "value" });
      widget.value = saved?.length ? saved[0] : first.widget.value;
      widget.callback = () => this.applyToTargets();
      if (CONTROLLED.has(spec.type)) {
        const initial = CONTROL_MODES.includes(saved?.[1]) ? saved[1]
          : spec.options.control_after_generate ? defaultControl(spec) : "fixed";
        const control = this.addWidget("combo", "control_after_generate", initial, () => {},
          { values: CONTROL_MODES });
        control.lgControlFor = "value";
        control.lgNotInPrompt = true;
      }
      const size = this.computeSize();
      this.setSize([Math.max(width, size[0], 260), Math.max(height, size[1])]);
      this.applyToTargets();
    }

    tearDown() {
      const output = this.outputs[0];
      output.type = "*";
      output.name = UNCONNECTED;
      delete output.widget;
      this.widgets = [];
      this.lgSpec = null;
      this.lgSaved = null;
      this.setSize(this.computeSize());
    }

    /** Copy this node's value into every widget it feeds (so they show it). */
    applyToTargets() {
      const value = this.widgets?.[0]?.value;
      if (value === undefined) return;
      for (const { node, widget } of widgetTargets(this.graph, this)) {
        if (widget.value === value) continue;
        const old = widget.value;
        widget.value = value;
        node.onWidgetChanged?.(widget.name, value, old, widget);
      }
      app.nodeChanged(this);
    }

    onWidgetChanged(name) {
      if (name === "value") this.applyToTargets();
      else app.nodeChanged(this);
    }

    serialize() {  // a primitive whose targets are gone keeps its saved values
      const data = super.serialize();
      if (!this.widgets?.length && this.lgSaved) data.widgets_values = [...this.lgSaved];
      return data;
    }

    onDrawForeground(ctx) {
      drawNodeState(this, ctx, app);
    }
  };
}

function rerouteNodeType(app) {
  return class Reroute extends LGraphNode {
    static title = "Reroute";
    static category = "utils";
    static title_mode = LiteGraph.NO_TITLE;
    static collapsable = false;

    constructor(name) {
      super(name ?? "Reroute");
      this.addInput("", "*");
      this.addOutput("", "*");
      this.isVirtualNode = true;
      this.properties ??= {};
      this.properties.showOutputText ??= false;
      this.properties.horizontal ??= false;
      this.size = [75, 26];
    }

    computeSize() {
      return [75, 26];
    }

    onAfterGraphConfigured() {
      this.fixTypes(new Set());
    }

    onConnectionsChange() {
      if (!app.configuring) this.fixTypes(new Set());
    }

    /** The output takes the type flowing in (or wanted downstream); mismatched links go. */
    fixTypes(seen) {
      const graph = this.graph;
      if (!graph || seen.has(this.id)) return;
      seen.add(this.id);
      const type = rerouteType(graph, this);
      this.outputs[0].type = type;
      const incoming = graph._links.get(this.inputs[0].link);
      if (incoming) incoming.type = type;  // the wire's colour along the way
      for (const id of [...(this.outputs[0].links ?? [])]) {
        const link = graph._links.get(id);
        const target = link && graph.getNodeById(link.target_id);
        if (!target) continue;
        const input = target.inputs?.[link.target_slot];
        if (input && !LiteGraph.isValidConnection(type, input.type)) {
          target.disconnectInput(link.target_slot);
          continue;
        }
        link.type = type;
        if (target.type === "Reroute") target.fixTypes(seen);
      }
    }
  };
}

/**
 * Register the editor-only types (after the server's, so these names are always ours).
 * @param {any} app the editor (`configuring`, `nodeChanged`)
 */
export function registerVirtualNodes(app) {
  LiteGraph.registerNodeType("Note", noteType("Note", false, app));
  LiteGraph.registerNodeType("MarkdownNote", noteType("Markdown Note", true, app));
  LiteGraph.registerNodeType("PrimitiveNode", primitiveType(app));
  LiteGraph.registerNodeType("Reroute", rerouteNodeType(app));
}
