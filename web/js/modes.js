// Node modes as ComfyUI uses them: 0 runs, 2 muted (skipped, with its links), 4 bypassed
// (each output passes a same-typed input through). The server's converter applies them;
// the editor only sets and shows them. Pure: unit-tested in node.

export const ALWAYS = 0;
export const MUTED = 2;
export const BYPASS = 4;

/**
 * The mode each node gets when `mode` is toggled on a selection: all to `mode`, or all back to
 * ALWAYS when every one of them already has it (ComfyUI's Ctrl+B / Ctrl+M).
 * @param {number[]} modes the nodes' current modes
 * @param {number} mode MUTED or BYPASS
 */
export function toggledMode(modes, mode) {
  return modes.length && modes.every((m) => m === mode) ? ALWAYS : mode;
}

/** The label of a mode, as drawn on the node ("" for a node that runs). */
export function modeLabel(mode) {
  if (mode === BYPASS) return "bypassed";
  if (mode === MUTED) return "muted";
  return "";
}
