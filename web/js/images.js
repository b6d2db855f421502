// Image inputs and outputs on nodes: LoadImage uploads (button or drop) with a thumbnail,
// and room on a node for the images it shows. Mixed into the App (\`this\` is the editor).

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

  ensureImageSpace(id) {
    const node = this.getNode(id);
    if (!node) return;
    const min = node.computeSize()[1] + 200;
    if (node.size[1] < min) node.setSize([Math.max(node.size[0], 260), min]);
  },
};
