// Where the graph is and whether the view shows it. Pure: unit-tested in node.

/**
 * The bounding box [x, y, w, h] of boxes given as [x, y, w, h], or null for none.
 * @param {number[][]} boxes
 */
export function boundsOf(boxes) {
  if (!boxes.length) return null;
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y, w, h] of boxes) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x + w);
    y1 = Math.max(y1, y + h);
  }
  return [x0, y0, x1 - x0, y1 - y0];
}

/**
 * Whether at least one box overlaps the visible area (both [x, y, w, h], graph units).
 * @param {number[][]} boxes
 * @param {number[]} area
 */
export function anyVisible(boxes, area) {
  const [ax, ay, aw, ah] = area;
  return boxes.some(([x, y, w, h]) => x < ax + aw && x + w > ax && y < ay + ah && y + h > ay);
}

/**
 * A saved view ({scale, offset}) if it is usable: finite numbers and a positive scale.
 * @param {any} ds the `extra.ds` of a workflow
 * @returns {{scale: number, offset: number[]}|null}
 */
export function savedView(ds) {
  const scale = ds?.scale;
  const offset = Array.isArray(ds?.offset) ? [...ds.offset] : [];
  if (!Number.isFinite(scale) || !(scale > 0) || offset.length !== 2 ||
      !offset.every(Number.isFinite)) return null;
  return { scale, offset };
}
