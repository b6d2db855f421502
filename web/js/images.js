// Image inputs and outputs on nodes: LoadImage uploads (button or drop) with a thumbnail,
// room on a node for the images it shows (only while a preview lasts, for previews), and
// open / save / copy of the image a node shows. Mixed into the App (`this` is the editor).

/** @type {Record<string, Function>} */
export const imageMethods = {

  pickUpload(node) {
    const input = document.createElement("input");
    input.type = "file";
    input.accept = "image/png,image/jpeg,image/webp,image/gif";
    input.addEventListener("change", () => {
      if (input.files?.[0]) this.uploadImage(node, input.files[0]);
    });
    input.click();
  },

  async uploadImage(node, file) {
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("type", "input");
    try {
      const reply = await this.api.request("/api/upload/image", { body: form });
      const value = reply.subfolder ? `${reply.subfolder}/${reply.name}` : reply.name;
      const widget = node.widgets.find((w) => w.name === "image");
      if (!widget.options.values.includes(value)) widget.options.values.push(value);
      widget.value = value;
      this.showInputThumbnail(node);
      this.changed();
    } catch (error) {
      this.panels.showMessage(`Upload of ${file.name} failed`, String(error.message ?? error));
    }
  },

  showInputThumbnail(node) {
    const value = node.widgets?.find((w) => w.name === "image")?.value;
    if (!value || typeof value !== "string") return;
    const match = /^(.*?)(?: \[(input|output|temp)\])?$/.exec(value);
    const path = match[1];
    const cut = path.lastIndexOf("/");
    const image = new Image();
    image.onload = () => this.redraw();
    image.src = this.api.viewUrl({ filename: path.slice(cut + 1),
      subfolder: cut >= 0 ? path.slice(0, cut) : "", type: match[2] ?? "input" });
    this.run.images.set(String(node.id), [image]);
    this.ensureImageSpace(String(node.id));
  },

  /**
   * Make room on a node for the image it shows. Output images keep the room (not an undo
   * step: nobody edited); a preview's room is given back when the previews end.
   * @param {string} id
   * @param {{preview?: boolean}} [opts]
   */
  ensureImageSpace(id, opts = {}) {
    const node = this.getNode(id);
    if (!node) return;
    if (!opts.preview) node.lgGrownFrom = null;  // an output image: the room stays
    const min = node.computeSize()[1] + 200;
    if (node.size[1] >= min) return;
    const settled = !opts.preview && this.history && !this.configuring &&
      !this.history.restoring && !this.canvas?.pointer?.isDown;
    if (settled && this.history.checkpoint()) this.afterChange();
    if (opts.preview) node.lgGrownFrom ??= [node.size[0], node.size[1]];
    node.setSize([Math.max(node.size[0], 260), min]);
    if (opts.preview) node.lgGrownTo = [node.size[0], node.size[1]];
    if (settled) {
      this.history.take();
      this.afterChange();
    }
  },

  /**
   * Nodes grown for previews shrink back (unless resized by hand meanwhile).
   * @param {string} [id] only this node
   */
  shrinkAfterPreviews(id) {
    for (const node of this.graph?._nodes ?? []) {
      if (!node.lgGrownFrom || (id !== undefined && String(node.id) !== id)) continue;
      const [w, h] = node.lgGrownTo ?? [];
      if (node.size[0] === w && node.size[1] === h) node.setSize(node.lgGrownFrom);
      node.lgGrownFrom = null;
      node.lgGrownTo = null;
    }
    this.redraw();
  },

  /** The image a node shows (its last output, or its input thumbnail), or null. */
  nodeImage(node) {
    const images = this.run.images.get(String(node.id));
    const image = images?.[images.length - 1];
    return image?.src ? image : null;
  },

  openImage(image) {
    window.open(image.src, "_blank", "noopener");
  },

  saveImage(image) {
    const name = new URL(image.src, location.href).searchParams.get("filename") || "image.png";
    const a = document.createElement("a");
    a.href = image.src;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
  },

  async copyImage(image) {
    try {
      const blob = await (await fetch(image.src, { cache: "force-cache" })).blob();
      const png = blob.type === "image/png" ? blob : await asPng(blob);
      await navigator.clipboard.write([new ClipboardItem({ "image/png": png })]);
      this.panels.setStatus("image copied");
    } catch (error) {
      this.panels.showMessage("Could not copy the image", String(error.message ?? error));
    }
  },
};

/** Any image blob as PNG (the one image type every clipboard takes). */
async function asPng(blob) {
  const bitmap = await createImageBitmap(blob);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  return canvas.convertToBlob({ type: "image/png" });
}
