// latentgraph's extension for the official ComfyUI frontend (`latentgraph serve --frontend
// comfyui`): a badge in the About panel naming the server and its version, next to the core
// badge the frontend always labels "ComfyUI". Loaded through GET /api/extensions.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const stats = await (await api.fetchApi("/system_stats")).json();
const version = stats?.system?.latentgraph_version ?? "";

app.registerExtension({
  name: "latentgraph.about",
  aboutPageBadges: [
    { label: `latentgraph ${version}`.trim(), url: "/api/system_stats", icon: "pi pi-server" },
  ],
});
