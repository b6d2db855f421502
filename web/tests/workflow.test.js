import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "../js/bigjson.js";
import {
  clampInt, conversionProblem, defaultValue, documentKind, errorsByNode, inputSpecs,
  nextControlValue, promptBody, promptToWorkflow, widgetLayout, widgetValuesByName,
} from "../js/workflow.js";

const MAX = 2n ** 64n - 1n;
const DEFS = parse(`{
 "KSampler": {"input": {"required": {
   "model": ["MODEL", {}],
   "seed": ["INT", {"default": 0, "min": 0, "max": 18446744073709551615, "control_after_generate": true}],
   "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
   "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1}],
   "sampler_name": [["euler", "heun"], {}],
   "positive": ["CONDITIONING"], "latent_image": ["LATENT", {}]}},
  "input_order": {"required": ["model", "seed", "steps", "cfg", "sampler_name", "positive", "latent_image"]},
  "output": ["LATENT"], "output_name": ["LATENT"], "display_name": "KSampler"},
 "Loader": {"input": {"required": {"name": ["COMBO", {"options": ["a.safetensors", "b.safetensors"]}]}},
  "output": ["MODEL", "CONDITIONING", "LATENT"], "output_name": ["MODEL", "COND", "LATENT"]},
 "LoadImage": {"input": {"required": {"image": [["x.png"], {"image_upload": true}]},
   "optional": {"flag": ["BOOLEAN", {"default": true}], "text": ["STRING", {"multiline": true}],
                "forced": ["INT", {"forceInput": true}]}},
  "output": ["IMAGE"]}
}`);

test("inputSpecs reads both combo forms, sections and forceInput", () => {
  const specs = inputSpecs(DEFS.LoadImage);
  assert.deepEqual(specs.map((s) => [s.name, s.type, s.optional, s.isWidget]), [
    ["image", "COMBO", false, true], ["flag", "BOOLEAN", true, true],
    ["text", "STRING", true, true], ["forced", "INT", true, false]]);
  assert.deepEqual(inputSpecs(DEFS.Loader)[0].values, ["a.safetensors", "b.safetensors"]);
});

test("widget layout puts the control mode after the seed and the upload after the image", () => {
  assert.deepEqual(widgetLayout(DEFS.KSampler).map((s) => s.name),
    ["seed", "control_after_generate", "steps", "cfg", "sampler_name"]);
  assert.deepEqual(widgetLayout(DEFS.LoadImage).map((s) => s.name),
    ["image", "upload", "flag", "text"]);
});

test("defaults and clamping keep 64-bit integers exact", () => {
  const [seed] = inputSpecs(DEFS.KSampler).filter((s) => s.name === "seed");
  assert.equal(defaultValue(seed), 0);
  assert.equal(clampInt("18446744073709551616", seed.options), MAX);
  assert.equal(clampInt(-5, seed.options), 0);
  assert.equal(clampInt("abc", seed.options), undefined);
  assert.equal(defaultValue(inputSpecs(DEFS.Loader)[0]), "a.safetensors");
});

test("control after generate: increment, decrement, fixed, randomize in range", () => {
  const seed = inputSpecs(DEFS.KSampler).find((s) => s.name === "seed");
  assert.equal(nextControlValue(MAX, "increment", seed), MAX);
  assert.equal(nextControlValue(MAX, "decrement", seed), MAX - 1n);
  assert.equal(nextControlValue(9007199254740991, "increment", seed), 9007199254740992n);
  assert.equal(nextControlValue(7, "fixed", seed), 7);
  const words = () => [0xffffffff, 0xffffffff];
  assert.equal(nextControlValue(7, "randomize", seed, words), MAX);
  for (let k = 0; k < 50; k++) {
    const v = BigInt(nextControlValue(0, "randomize", seed));
    assert.ok(v >= 0n && v <= MAX);
  }
  const combo = inputSpecs(DEFS.KSampler).find((s) => s.name === "sampler_name");
  assert.equal(nextControlValue("euler", "increment", combo), "heun");
  assert.equal(nextControlValue("heun", "increment", combo), "heun");
});

test("saved widget values map by name, old files without a control slot included", () => {
  assert.deepEqual(widgetValuesByName(DEFS.KSampler, [MAX, "fixed", 30, 7.5, "heun"]),
    { seed: MAX, "seed.control_after_generate": "fixed", steps: 30, cfg: 7.5,
      sampler_name: "heun" });
  assert.deepEqual(widgetValuesByName(DEFS.KSampler, [5, 30, 7.5, "heun"]),
    { seed: 5, steps: 30, cfg: 7.5, sampler_name: "heun" });
  assert.deepEqual(widgetValuesByName(DEFS.KSampler, { seed: 3, steps: 4 }), { seed: 3, steps: 4 });
});

test("API prompt to workflow: nodes laid out left to right, links, widget values", () => {
  const api = {
    "1": { class_type: "Loader", inputs: { name: "a.safetensors" } },
    "2": { class_type: "KSampler", inputs: { seed: MAX, steps: 5, cfg: 1.5,
      sampler_name: "euler", model: ["1", 0], positive: ["1", 1], latent_image: ["1", 2] },
      _meta: { title: "My sampler" } },
  };
  const wf = promptToWorkflow(api, DEFS);
  assert.equal(wf.version, 0.4);
  assert.equal(wf.links.length, 3);
  assert.ok(wf.nodes[1].pos[0] > wf.nodes[0].pos[0]);
  assert.deepEqual(wf.nodes[1].widgets_values, [MAX, "fixed", 5, 1.5, "euler"]);
  assert.equal(wf.nodes[1].title, "My sampler");
  assert.deepEqual(wf.nodes[0].widgets_values, ["a.safetensors"]);
  const byId = new Map(wf.links.map((l) => [l[0], l]));
  const sampler = wf.nodes[1];
  const model = sampler.inputs.find((i) => i.name === "model");
  assert.deepEqual(byId.get(model.link).slice(1, 5), [1, 0, 2, 0]);
  const latent = sampler.inputs.find((i) => i.name === "latent_image");
  assert.deepEqual(byId.get(latent.link).slice(1, 3), [1, 2]);
  assert.ok(wf.nodes[0].outputs[2].links.includes(latent.link));
});

test("a refused conversion names the node (a subgraph's inner node: its instance)", () => {
  const body = { error: { type: "invalid_workflow", message: "The UI workflow cannot be converted",
    details: "node 30 (X): node type 'X' does not exist",
    extra_info: { node_id: "30", node_type: "X", reason: "node type 'X' does not exist" } } };
  assert.deepEqual(conversionProblem(body),
    { node: "30", message: "node type 'X' does not exist" });
  body.error.extra_info.node_id = "12:5:3";
  assert.equal(conversionProblem(body).node, "12");
  assert.deepEqual(conversionProblem({ error: { type: "invalid_workflow", message: "m",
    details: "TypeError: bad" } }), { node: null, message: "TypeError: bad" });
  assert.equal(conversionProblem({ error: { type: "invalid_prompt", message: "x" } }), null);
  assert.equal(conversionProblem("Bad Request"), null);
});

test("document kinds and validation errors by node", () => {
  assert.equal(documentKind({ nodes: [] }), "workflow");
  assert.equal(documentKind({ "1": { class_type: "X", inputs: {} } }), "prompt");
  assert.equal(documentKind({ prompt: {} }), "request");
  assert.equal(documentKind([1]), null);
  assert.deepEqual(errorsByNode({ "8": { errors: [{ message: "Required input is missing",
    details: "samples", extra_info: { input_name: "samples" } }] } }),
  { "8": [{ input: "samples", message: "Required input is missing: samples" }] });
});

test("a queued prompt carries its workflow and asks for live previews", () => {
  const workflow = { nodes: [] };
  const body = promptBody("sid", { "1": { class_type: "X", inputs: {} } }, workflow);
  assert.deepEqual(body, {
    client_id: "sid", prompt: { "1": { class_type: "X", inputs: {} } },
    extra_data: { extra_pnginfo: { workflow }, preview_method: "auto" },
  });
});
