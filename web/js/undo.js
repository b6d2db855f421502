// Undo/redo by snapshots of the serialised graph, taken after each gesture that changed it.

import { stringify } from "./bigjson.js";

/**
 * What two graph states are compared by: their JSON with the nodes in id order, so that
 * bringing a node to the front (a click, which reorders the list) is no edit.
 * @param {any} state
 */
export function graphKey(state) {
  const byId = (a, b) => String(a.id).localeCompare(String(b.id), "en", { numeric: true });
  return stringify({ ...state, nodes: [...(state.nodes ?? [])].sort(byId) });
}

export class History {
  /**
   * @param {() => any} snapshot the graph as data (view offset left out)
   * @param {(state: any) => void} restore
   * @param {{limit?: number, key?: (state: any) => string}} [opts] `key`: the text two states
   *   are compared by (equal text: no change)
   */
  constructor(snapshot, restore, { limit = 100, key = stringify } = {}) {
    this.snapshot = snapshot;
    this.restore = restore;
    this.limit = limit;
    this.key = key;
    this.undoStack = [];
    this.redoStack = [];
    this.current = null;
    this.currentText = "";
    this.restoring = false;
  }

  /** Start over from the graph as it is now (after opening a workflow). */
  reset() {
    this.undoStack = [];
    this.redoStack = [];
    this.take();
  }

  /** The graph as it is now becomes the current state, with no undo step (not an edit). */
  take() {
    this.current = this.snapshot();
    this.currentText = this.key(this.current);
  }

  /** Record the graph if it changed since the last checkpoint; true when it did. */
  checkpoint() {
    if (this.restoring) return false;
    const state = this.snapshot();
    const text = this.key(state);
    if (text === this.currentText) return false;
    if (this.current !== null) this.undoStack.push(this.current);
    if (this.undoStack.length > this.limit) this.undoStack.shift();
    this.redoStack = [];
    this.current = state;
    this.currentText = text;
    return true;
  }

  undo() {
    this.checkpoint();
    const previous = this.undoStack.pop();
    if (!previous) return false;
    this.redoStack.push(this.current);
    this.apply(previous);
    return true;
  }

  redo() {
    const next = this.redoStack.pop();
    if (!next) return false;
    this.undoStack.push(this.current);
    this.apply(next);
    return true;
  }

  apply(state) {
    this.restoring = true;
    try {
      this.restore(structuredClone(state));
    } finally {
      this.restoring = false;
    }
    // The graph as restored (which may differ from `state` in what loading normalises), so a
    // later checkpoint does not see a change nobody made.
    this.take();
  }
}
