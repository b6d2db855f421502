import { test } from "node:test";
import assert from "node:assert/strict";
import { primitiveAccepts, rerouteType } from "../js/wiring.js";

test("a primitive feeds widgets of its one type (combos: the same choices)", () => {
  const int = { type: "INT" };
  assert.ok(primitiveAccepts(null, int));
  assert.ok(!primitiveAccepts(null, null));  // no widget behind that input
  assert.ok(primitiveAccepts(int, { type: "INT" }));
  assert.ok(!primitiveAccepts(int, { type: "FLOAT" }));
  const combo = { type: "COMBO", values: ["euler", "heun"] };
  assert.ok(primitiveAccepts(combo, { type: "COMBO", values: ["euler", "heun"] }));
  assert.ok(!primitiveAccepts(combo, { type: "COMBO", values: ["normal", "karras"] }));
});

/** A graph shape: nodes {id, type, inputs, outputs}, links [id, from, slot, to, slot, type]. */
function graph(nodes, links) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const table = new Map(links.map(([id, origin, originSlot, target, targetSlot, type]) => [id,
    { id, origin_id: origin, origin_slot: originSlot, target_id: target,
      target_slot: targetSlot, type }]));
  return { _links: table, getNodeById: (id) => byId.get(id) };
}

const reroute = (id, input, outputs) => ({ id, type: "Reroute", inputs: [{ type: "*", link: input }],
  outputs: [{ type: "*", links: outputs }] });

test("a reroute carries the type flowing in, through other reroutes", () => {
  const loader = { id: 1, type: "Loader", outputs: [{ type: "MODEL" }, { type: "VAE" }] };
  const g = graph([loader, reroute(2, 1, [2]), reroute(3, 2, [])],
    [[1, 1, 1, 2, 0, "VAE"], [2, 2, 0, 3, 0, "*"]]);
  assert.equal(rerouteType(g, g.getNodeById(2)), "VAE");
  assert.equal(rerouteType(g, g.getNodeById(3)), "VAE");
});

test("an unfed reroute takes the type wanted downstream, else '*'", () => {
  const decode = { id: 5, type: "VAEDecode", inputs: [{ type: "LATENT" }, { type: "VAE" }] };
  const g = graph([reroute(2, null, [7]), reroute(3, 7, [8]), decode],
    [[7, 2, 0, 3, 0, "*"], [8, 3, 0, 5, 1, "VAE"]]);
  assert.equal(rerouteType(g, g.getNodeById(2)), "VAE");
  const lone = graph([reroute(4, null, [])], []);
  assert.equal(rerouteType(lone, lone.getNodeById(4)), "*");
  const loop = graph([reroute(2, 9, [9])], [[9, 2, 0, 2, 0, "*"]]);  // a cycle ends
  assert.equal(rerouteType(loop, loop.getNodeById(2)), "*");
});
