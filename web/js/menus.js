// The canvas and node context menus: Bypass / Mute (as Ctrl+B / Ctrl+M), Open / Save / Copy
// Image on nodes showing an image, and without litegraph's entries this editor does not
// support (its "Mode" list, which lacks bypass; "Convert to Subgraph", whose result could not
// be opened or edited here, and which deleted the nodes when the subgraph type was unknown).

import { LGraph, LGraphCanvas } from "../vendor/litegraph/litegraph.es.js";
import { BYPASS, MUTED } from "./modes.js";

const DROPPED = [/^Convert to Subgraph/, /^Mode$/, /^Properties Panel$/];

const kept = (option) => !option || !DROPPED.some((re) => re.test(String(option.content ?? "")));

/** Whether the browser lets a page put an image on the clipboard. */
export function canCopyImages() {
  return typeof ClipboardItem !== "undefined" && Boolean(navigator.clipboard?.write) &&
    window.isSecureContext;
}

/**
 * @param {any} app the editor
 */
export function installMenus(app) {
  const nodeMenu = LGraphCanvas.prototype.getNodeMenuOptions;
  LGraphCanvas.prototype.getNodeMenuOptions = function getNodeMenuOptions(node) {
    const options = nodeMenu.call(this, node).filter(kept);
    return [...imageEntries(app, node), ...modeEntries(app, node), null, ...options];
  };
  const canvasMenu = LGraphCanvas.prototype.getCanvasMenuOptions;
  LGraphCanvas.prototype.getCanvasMenuOptions = function getCanvasMenuOptions(...args) {
    return canvasMenu.apply(this, args).filter(kept);
  };
  LGraph.prototype.convertToSubgraph = function convertToSubgraph() {
    throw new Error("Converting to a subgraph is not supported in this editor");
  };
}

function modeEntries(app, node) {
  const entry = (mode, on, off, key) => ({
    content: node.mode === mode ? `${off} (${key})` : `${on} (${key})`,
    callback: () => app.toggleMode(mode, node),
  });
  return [entry(BYPASS, "Bypass", "Remove bypass", "Ctrl+B"),
    entry(MUTED, "Mute", "Unmute", "Ctrl+M")];
}

function imageEntries(app, node) {
  const image = app.nodeImage(node);
  if (!image) return [];
  const entries = [
    { content: "Open Image", callback: () => app.openImage(image) },
    { content: "Save Image", callback: () => app.saveImage(image) },
  ];
  if (canCopyImages()) entries.push({ content: "Copy Image", callback: () => app.copyImage(image) });
  entries.push(null);
  return entries;
}
