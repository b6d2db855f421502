// HTTP and websocket access to the server (ComfyUI's API under /api). JSON is read with the
// big-integer parser, so seeds beyond 2^53 survive.

import { parse, stringify } from "./bigjson.js";

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Decode a binary websocket frame (ComfyUI's event types 1, 3 and 4). */
export function decodeBinary(buffer) {
  const view = new DataView(buffer);
  const type = view.getUint32(0);
  if (type === 1) {
    const format = view.getUint32(4) === 2 ? "image/png" : "image/jpeg";
    return { type: "preview", meta: {}, blob: new Blob([buffer.slice(8)], { type: format }) };
  }
  if (type === 4) {
    const length = view.getUint32(4);
    const meta = JSON.parse(new TextDecoder().decode(buffer.slice(8, 8 + length)));
    return { type: "preview", meta, blob: new Blob([buffer.slice(8 + length)],
      { type: meta.image_type ?? "image/png" }) };
  }
  if (type === 3) {
    const length = view.getUint32(4);
    const decoder = new TextDecoder();
    return { type: "progress_text", meta: { node: decoder.decode(buffer.slice(8, 8 + length)) },
      text: decoder.decode(buffer.slice(8 + length)) };
  }
  return { type: "unknown", meta: { code: type } };
}

export class Api extends EventTarget {
  constructor() {
    super();
    /** @type {string|null} kept in memory only; the cookie the server sets does the rest */
    this.token = null;
    this.clientId = sessionStorage.getItem("lg.clientId");
    this.ws = null;
    this.everConnected = false;
    this.retry = 300;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  headers(extra = {}) {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra;
  }

  /**
   * A request to the API; JSON replies are parsed (big integers exact).
   * @param {string} path e.g. "/api/prompt"
   * @param {{method?: string, json?: any, body?: BodyInit}} [opts]
   */
  async request(path, opts = {}) {
    const init = { method: opts.method ?? "GET", headers: this.headers(), cache: "no-cache" };
    if (opts.json !== undefined) {
      init.method = opts.method ?? "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = stringify(opts.json);
    } else if (opts.body !== undefined) {
      init.method = opts.method ?? "POST";
      init.body = opts.body;
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let body = null;
    if (text) {
      try {
        body = parse(text);
      } catch {
        body = text;
      }
    }
    if (response.status === 401) {
      this.emit("unauthorized", { path });
      throw new ApiError(401, body, "The server needs an access token");
    }
    if (!response.ok) {
      const error = body?.error;
      const message = typeof error === "string" ? error
        : [error?.message, error?.details].filter(Boolean).join(": ") || response.statusText;
      throw new ApiError(response.status, body, message);
    }
    return body;
  }

  get(path) {
    return this.request(path);
  }

  post(path, json) {
    return this.request(path, { json: json ?? {} });
  }

  /** Try a token: a GET with ?token= makes the server set its session cookie. */
  async login(token) {
    const response = await fetch(`/api/system_stats?token=${encodeURIComponent(token)}`,
      { cache: "no-cache" });
    if (!response.ok) return false;
    this.token = token;
    this.emit("authorized", {});
    this.reconnect();
    return true;
  }

  viewUrl(image) {
    const q = new URLSearchParams({ filename: image.filename ?? "", type: image.type ?? "output",
      subfolder: image.subfolder ?? "" });
    return `/api/view?${q}`;
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams();
    if (this.clientId) q.set("clientId", this.clientId);
    if (this.token) q.set("token", this.token);
    const ws = new WebSocket(`${proto}//${location.host}/ws?${q}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({ type: "feature_flags", data: { supports_preview_metadata: true } }));
      this.retry = 300;
      const again = this.everConnected;
      this.everConnected = true;
      this.emit("connected", { again });
    });
    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        const frame = decodeBinary(event.data);
        this.emit(`b:${frame.type}`, frame);
        return;
      }
      let message;
      try {
        message = parse(event.data);
      } catch {
        return;
      }
      if (message?.type === "status" && message.data?.sid) {
        this.clientId = message.data.sid;
        sessionStorage.setItem("lg.clientId", this.clientId);
      }
      this.emit(`m:${message?.type}`, message?.data ?? {});
    });
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.emit("disconnected", {});
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 3000);
    });
  }

  reconnect() {
    const old = this.ws;
    this.ws = null;
    old?.close();
    this.connect();
  }
}
