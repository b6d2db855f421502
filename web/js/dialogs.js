// Modal dialogs built from DOM nodes (text as text): value prompt, token entry, messages.

import { el } from "./dom.js";

let open = null;
let onClose = null;

/**
 * Close the open dialog, if any (Escape anywhere, a click beside it, Cancel).
 * @returns {boolean} whether one was open
 */
export function closeDialog() {
  if (!open) return false;
  const closed = onClose;
  open.remove();
  open = null;
  onClose = null;
  closed?.();
  return true;
}

/**
 * A modal with a title and body; Escape (wherever the focus is) or a click beside it closes it.
 * @param {string} title
 * @param {HTMLElement[]} body
 * @param {{id?: string, onClose?: () => void}} [opts]
 */
export function showDialog(title, body, opts = {}) {
  closeDialog();
  const box = el("div", { class: "lg-dialog", role: "dialog", id: opts.id },
    el("h2", { text: title }), ...body);
  const backdrop = el("div", { class: "lg-backdrop" }, box);
  backdrop.addEventListener("pointerdown", (e) => {
    if (e.target === backdrop) closeDialog();
  });
  document.body.append(backdrop);
  open = backdrop;
  onClose = opts.onClose ?? null;
  return box;
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && closeDialog()) {
    e.preventDefault();
    e.stopImmediatePropagation();
  }
}, true);

/**
 * Ask for a value (litegraph's canvas.prompt goes here instead of its HTML-string dialog).
 * @param {string} title
 * @param {string} value
 * @param {(v: string) => void} onOk
 * @param {boolean} multiline
 */
export function promptValue(title, value, onOk, multiline = false) {
  const field = multiline
    ? el("textarea", { class: "lg-prompt-value", rows: 8, spellcheck: false })
    : el("input", { class: "lg-prompt-value", type: "text" });
  field.value = value ?? "";
  const ok = () => {
    const v = field.value;
    closeDialog();
    onOk(v);
  };
  field.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (!multiline || e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      e.stopPropagation();
      ok();
    }
  });
  const box = showDialog(String(title ?? ""), [
    field,
    el("div", { class: "lg-buttons" },
      el("button", { type: "button", class: "lg-ok", text: "OK", onclick: ok }),
      el("button", { type: "button", text: "Cancel", onclick: closeDialog })),
  ], { id: "lg-prompt" });
  field.focus();
  field.select?.();
  return box;
}

/**
 * Ask for the access token.
 * @param {string} message
 * @param {(token: string) => Promise<boolean>} tryToken resolves true when accepted
 */
export function askToken(message, tryToken) {
  const field = el("input", { type: "password", id: "lg-token-input", autocomplete: "off" });
  const status = el("p", { class: "lg-error", id: "lg-token-status" });
  const submit = async () => {
    status.textContent = "";
    if (await tryToken(field.value.trim())) closeDialog();
    else status.textContent = "That token was not accepted.";
  };
  field.addEventListener("keydown", (e) => {
    if (e.key === "Enter") submit();
  });
  showDialog("Access token needed", [
    el("p", { text: message }), field, status,
    el("div", { class: "lg-buttons" },
      el("button", { type: "button", id: "lg-token-submit", text: "Connect", onclick: submit })),
  ], { id: "lg-token" });
  field.focus();
}
