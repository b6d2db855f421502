// Opening and saving: workflow JSON (UI v0.4 or API format), PNGs holding a workflow,
// images dropped on a Load Image node (uploaded), and the autosave in localStorage.

import { parse, stringify } from "./bigjson.js";
import { readPngText } from "./png.js";
import { documentKind, promptToWorkflow } from "./workflow.js";

const AUTOSAVE = "lg.autosave";

/** The workflow stored by the last autosave, or null. */
export function loadAutosave() {
  try {
    const text = localStorage.getItem(AUTOSAVE);
    return text ? parse(text) : null;
  } catch {
    return null;
  }
}

/**
 * Keep the workflow (and where the view was) for the next page load.
 * @param {any} workflow
 * @param {string} name
 * @param {{scale: number, offset: number[]}} [view]
 */
export function autosave(workflow, name, view) {
  try {
    localStorage.setItem(AUTOSAVE, stringify({ name, workflow, view }));
  } catch {
    // storage full or disabled: the editor keeps working without it
  }
}

/**
 * A workflow from parsed JSON of any accepted kind.
 * @returns {any} a UI workflow
 */
export function workflowFromData(data, defs) {
  const kind = documentKind(data);
  if (kind === "workflow") return data;
  if (kind === "prompt") return promptToWorkflow(data, defs);
  if (kind === "request") {
    const saved = data.extra_data?.extra_pnginfo?.workflow;
    return documentKind(saved) === "workflow" ? saved : promptToWorkflow(data.prompt, defs);
  }
  throw new Error("this JSON is neither a workflow nor an API prompt");
}

/**
 * The workflow inside a file (.json, or .png with a `workflow` or `prompt` text chunk).
 * @param {File} file
 * @param {Record<string, any>} defs
 */
export async function workflowFromFile(file, defs) {
  const isPng = file.type === "image/png" || /\.png$/i.test(file.name);
  if (isPng) {
    const chunks = await readPngText(await file.arrayBuffer());
    if (chunks.workflow) {
      const data = parse(chunks.workflow);
      if (documentKind(data) === "workflow") return data;
    }
    if (chunks.prompt) return promptToWorkflow(parse(chunks.prompt), defs);
    throw new Error("this PNG holds no workflow (no 'workflow' or 'prompt' text chunk)");
  }
  return workflowFromData(parse(await file.text()), defs);
}

/** Offer the workflow as a download. */
export function download(workflow, name) {
  const blob = new Blob([stringify(workflow, 2)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = /\.json$/i.test(name) ? name : `${name}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** A file name without its extension, for the workflow's title. */
export function baseName(name) {
  return String(name).replace(/\.(json|png)$/i, "");
}
