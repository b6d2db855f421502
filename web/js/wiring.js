// Type rules of the editor-only nodes: which widgets a Primitive may feed and the type a
// Reroute carries. Pure over a graph's shape (`_links`, `getNodeById`): unit-tested in node.

/**
 * Whether a Primitive already set up for `current` (null: not yet) may also feed a widget
 * declared by `wanted` (null: the input has no widget, so no).
 * @param {{type: string, values?: any[]}|null} current
 * @param {{type: string, values?: any[]}|null} wanted
 */
export function primitiveAccepts(current, wanted) {
  if (!wanted) return false;
  if (!current) return true;
  if (current.type !== wanted.type) return false;
  if (current.type !== "COMBO") return true;
  const a = current.values ?? [];
  const b = wanted.values ?? [];
  return a.length === b.length && a.every((v, k) => v === b[k]);
}

const isReroute = (node) => node?.type === "Reroute";
const concrete = (type) => type !== undefined && type !== null && type !== "" && type !== "*";

/** The type flowing into a Reroute: its origin's output type, through upstream reroutes. */
function upstreamType(graph, node, seen) {
  if (seen.has(node.id)) return "*";
  seen.add(node.id);
  const link = graph._links.get(node.inputs?.[0]?.link);
  const origin = link && graph.getNodeById(link.origin_id);
  if (!origin) return "*";
  if (isReroute(origin)) return upstreamType(graph, origin, seen);
  return origin.outputs?.[link.origin_slot]?.type ?? link.type ?? "*";
}

/** The type wanted downstream of a Reroute: the first typed input it (or a reroute) feeds. */
function downstreamType(graph, node, seen) {
  if (seen.has(node.id)) return "*";
  seen.add(node.id);
  for (const id of node.outputs?.[0]?.links ?? []) {
    const link = graph._links.get(id);
    const target = link && graph.getNodeById(link.target_id);
    if (!target) continue;
    const type = isReroute(target) ? downstreamType(graph, target, seen)
      : target.inputs?.[link.target_slot]?.type;
    if (concrete(type)) return type;
  }
  return "*";
}

/**
 * The type a Reroute's output carries: what flows in, else what is wanted downstream, else "*".
 * @param {{_links: Map<any, any>, getNodeById: (id: any) => any}} graph
 * @param {any} reroute
 */
export function rerouteType(graph, reroute) {
  const up = upstreamType(graph, reroute, new Set());
  if (concrete(up)) return up;
  return downstreamType(graph, reroute, new Set());
}
