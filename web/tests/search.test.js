import { test } from "node:test";
import assert from "node:assert/strict";
import { searchNodes } from "../js/search.js";

const defs = {
  PrimitiveBoolean: { display_name: "Boolean", category: "utils/primitive", output: ["BOOLEAN"] },
  PrimitiveInt: { display_name: "Int", category: "utils/primitive", output: ["INT"] },
  PrimitiveNode: { display_name: "Primitive", category: "utils", output: ["*"] },
  KSampler: { display_name: "KSampler", category: "sampling",
    input: { required: { model: ["MODEL"], steps: ["INT", {}] } }, output: ["LATENT"] },
  KSamplerAdvanced: { display_name: "KSampler (Advanced)", category: "sampling", output: ["LATENT"] },
};

test("a query equal to a node's title or type name comes first", () => {
  const types = searchNodes(defs, "primitive").map((r) => r.type);
  assert.equal(types[0], "PrimitiveNode");
  assert.deepEqual(new Set(types), new Set(["PrimitiveNode", "PrimitiveBoolean", "PrimitiveInt"]));
  assert.equal(searchNodes(defs, "ksampler")[0].type, "KSampler");
  assert.equal(searchNodes(defs, "primitiveint")[0].type, "PrimitiveInt");
});

test("prefix matches rank above matches elsewhere; every word must appear", () => {
  const types = searchNodes(defs, "sampl").map((r) => r.type);
  assert.deepEqual(types, ["KSampler", "KSamplerAdvanced"]);  // both by category only: by title
  assert.deepEqual(searchNodes(defs, "ksampler adv").map((r) => r.type), ["KSamplerAdvanced"]);
  assert.deepEqual(searchNodes(defs, "int").map((r) => r.type)[0], "PrimitiveInt");
});

test("a dragged link's type filters the results", () => {
  const types = searchNodes(defs, "", { inputType: "MODEL" }).map((r) => r.type);
  assert.deepEqual(types, ["KSampler"]);
  const outs = searchNodes(defs, "", { outputType: "INT" }).map((r) => r.type);
  assert.deepEqual(outs, ["PrimitiveInt"]);  // no widget behind the input: no Primitive
  const widget = searchNodes(defs, "", { outputType: "INT", widget: true }).map((r) => r.type);
  assert.deepEqual(new Set(widget), new Set(["PrimitiveInt", "PrimitiveNode"]));
});
