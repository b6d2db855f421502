// Litegraph builds some DOM from HTML strings (context menus, its prompt and search box).
// Node titles, categories, combo values and slot types come from workflows and plugins, so
// they are escaped before they reach those strings, and the prompt/search are replaced.

import { ContextMenu, LGraphCanvas, LiteGraph } from "../vendor/litegraph/litegraph.es.js";
import { escapeHtml } from "./dom.js";
import { promptValue } from "./dialogs.js";

class SafeContextMenu extends ContextMenu {
  constructor(values, options, ...rest) {
    const safe = options?.title ? { ...options, title: escapeHtml(options.title) } : options;
    super(values, safe, ...rest);
  }

  addItem(name, value, options) {
    let shown = value;
    if (value && typeof value === "object" && value.title != null) {
      shown = Object.create(value, {
        title: { value: escapeHtml(value.title), enumerable: true },
      });
    }
    return super.addItem(name == null ? name : escapeHtml(String(name)), shown, options);
  }
}

/**
 * Install the text-safe replacements.
 * @param {(event: MouseEvent, opts: any) => void} showPalette the node search
 * @param {() => void} edited called after a value typed into a prompt was applied
 */
export function installSafety(showPalette, edited) {
  LiteGraph.ContextMenu = SafeContextMenu;
  LGraphCanvas.prototype.prompt = function prompt(title, value, callback, _event, multiline) {
    return promptValue(title, value, (v) => {
      callback(v);
      this.setDirty(true, true);
      edited();
    }, multiline);
  };
  LGraphCanvas.prototype.showSearchBox = function showSearchBox(event, options) {
    showPalette(event, options ?? {});
  };
  // Panels built from HTML strings: not offered.
  LGraphCanvas.prototype.showShowNodePanel = () => {};
  LGraphCanvas.prototype.showShowGraphOptionsPanel = () => {};
}
