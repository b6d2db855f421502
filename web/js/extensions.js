// Plugin front-end extensions: GET /api/extensions lists JS modules (ComfyUI's mechanism);
// each is imported (same origin only) and may call app.registerExtension({name, hooks…}) or
// export a default extension object. Hooks: init, beforeRegisterNodeDef(nodeType, def),
// registeredNodeType(nodeType, def), setup, nodeCreated(node).

export class Extensions {
  constructor(app) {
    this.app = app;
    /** @type {any[]} */
    this.list = [];
    this.failed = [];
  }

  register(extension) {
    if (!extension || typeof extension !== "object") {
      throw new TypeError("registerExtension expects an object with a name");
    }
    if (this.list.some((e) => e.name === extension.name)) {
      throw new Error(`extension ${String(extension.name)} is already registered`);
    }
    this.list.push(extension);
  }

  call(hook, ...args) {
    for (const extension of this.list) {
      if (typeof extension[hook] !== "function") continue;
      try {
        extension[hook](...args, this.app);
      } catch (error) {
        console.error(`extension ${String(extension.name)} failed in ${hook}`, error);
      }
    }
  }

  async load(api) {
    let urls = [];
    try {
      urls = await api.get("/api/extensions");
    } catch (error) {
      if (error.status === 401) throw error;
      return;
    }
    for (const url of Array.isArray(urls) ? urls : []) {
      if (typeof url !== "string" || !url.startsWith("/") || url.startsWith("//")) continue;
      try {
        const module = await import(url);
        if (module.default && typeof module.default === "object" && module.default.name) {
          this.register(module.default);
        }
      } catch (error) {
        this.failed.push(url);
        console.error(`extension ${url} failed to load`, error);
      }
    }
  }
}
