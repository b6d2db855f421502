// Undo/redo by snapshots of the serialised graph, taken after each gesture that changed it.

import { stringify } from "./bigjson.js";

export class History {
  /**
   * @param {() => any} snapshot the graph as data (view offset left out)
   * @param {(state: any) => void} restore
   * @param {number} [limit]
   */
  constructor(snapshot, restore, limit = 100) {
    this.snapshot = snapshot;
    this.restore = restore;
    this.limit = limit;
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
    this.current = this.snapshot();
    this.currentText = stringify(this.current);
  }

  /** Record the graph if it changed since the last checkpoint; true when it did. */
  checkpoint() {
    if (this.restoring) return false;
    const state = this.snapshot();
    const text = stringify(state);
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
    this.current = state;
    this.currentText = stringify(state);
  }
}
