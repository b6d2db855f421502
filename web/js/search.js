// Node search for the palette: which node types match a query, best first. Pure (no DOM),
// so it is unit-tested under node.

export const fits = (slotType, type) => String(slotType) === "*" || String(slotType) === String(type);

function accepts(def, type, side) {
  if (!type || type === "*") return true;
  if (side === "in") {
    return Object.values({ ...def.input?.required, ...def.input?.optional })
      .some((s) => Array.isArray(s) && fits(s[0], type));
  }
  return (def.output ?? []).some((t) => fits(t, type));
}

/**
 * 0: the query is the node's title or type name; 1: the title or type starts with the first
 * word; 2: the words appear somewhere (type, title or category).
 * @param {string[]} words
 * @param {string} type lower case
 * @param {string} title lower case
 */
function rank(words, type, title) {
  const query = words.join(" ");
  if (query && (title === query || type === query)) return 0;
  return words.length && (title.startsWith(words[0]) || type.startsWith(words[0])) ? 1 : 2;
}

/**
 * Rank the node types matching a query (all words must appear).
 * @param {Record<string, any>} defs
 * @param {string} query
 * @param {{inputType?: string, outputType?: string, widget?: boolean}} [filter] `widget`: the
 *   dragged input has a widget (only then is a Primitive offered)
 */
export function searchNodes(defs, query, filter = {}) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const found = [];
  for (const [type, def] of Object.entries(defs)) {
    if (type === "PrimitiveNode" && filter.outputType && !filter.widget) continue;
    if (filter.inputType && !accepts(def, filter.inputType, "in")) continue;
    if (filter.outputType && !accepts(def, filter.outputType, "out")) continue;
    const title = String(def.display_name || type);
    const hay = `${type} ${title} ${def.category ?? ""}`.toLowerCase();
    if (!words.every((w) => hay.includes(w))) continue;
    const score = rank(words, type.toLowerCase(), title.toLowerCase());
    found.push({ type, title, category: String(def.category ?? ""), score });
  }
  return found.sort((a, b) => a.score - b.score || a.title.localeCompare(b.title));
}

