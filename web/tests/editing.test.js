import { test } from "node:test";
import assert from "node:assert/strict";
import { ALWAYS, BYPASS, MUTED, modeLabel, toggledMode } from "../js/modes.js";
import { anyVisible, boundsOf, savedView } from "../js/view.js";
import { History, graphKey } from "../js/undo.js";
import { runPhase, steppingNodes } from "../js/run.js";

test("Ctrl+B / Ctrl+M: all to the mode, or all back when every one has it", () => {
  assert.equal(toggledMode([ALWAYS], BYPASS), BYPASS);
  assert.equal(toggledMode([BYPASS], BYPASS), ALWAYS);
  assert.equal(toggledMode([BYPASS, ALWAYS], BYPASS), BYPASS);
  assert.equal(toggledMode([BYPASS, BYPASS], BYPASS), ALWAYS);
  assert.equal(toggledMode([BYPASS], MUTED), MUTED);
  assert.equal(toggledMode([], MUTED), MUTED);
  assert.deepEqual([modeLabel(BYPASS), modeLabel(MUTED), modeLabel(ALWAYS)],
    ["bypassed", "muted", ""]);
});

test("a saved view is used only when usable, and only if it shows a node", () => {
  assert.deepEqual(boundsOf([[0, 0, 10, 10], [20, -5, 10, 10]]), [0, -5, 30, 15]);
  assert.equal(boundsOf([]), null);
  const boxes = [[100, 100, 200, 100]];
  assert.ok(anyVisible(boxes, [0, 0, 150, 150]));
  assert.ok(!anyVisible(boxes, [5000, 5000, 800, 600]));
  assert.ok(!anyVisible(boxes, [300, 0, 100, 100]));  // touching an edge is not showing
  assert.deepEqual(savedView({ scale: 0.5, offset: [10, -20] }), { scale: 0.5, offset: [10, -20] });
  assert.equal(savedView({ scale: 0, offset: [0, 0] }), null);
  assert.equal(savedView({ scale: 1, offset: [0, null] }), null);
  assert.equal(savedView({ scale: 1, offset: [0, Infinity] }), null);
  assert.equal(savedView(undefined), null);
});

function graphHistory() {
  const graph = { nodes: [{ id: 1, pos: [0, 0] }], seed: 1n };
  let restored = 0;
  const history = new History(() => structuredClone(graph), (state) => {
    restored++;
    Object.assign(graph, state);
  });
  history.reset();
  return { graph, history, restored: () => restored };
}

test("undo: one step per checkpoint that changed something, redo, no empty steps", () => {
  const { graph, history } = graphHistory();
  assert.equal(history.checkpoint(), false);  // nothing changed
  graph.nodes[0].pos = [5, 5];
  assert.equal(history.checkpoint(), true);
  graph.seed = 2n ** 64n - 1n;
  assert.equal(history.checkpoint(), true);
  graph.nodes.push({ id: 2, pos: [1, 1] });
  assert.equal(history.checkpoint(), true);
  assert.equal(history.undoStack.length, 3);
  assert.ok(history.undo());
  assert.equal(graph.nodes.length, 1);
  assert.ok(history.undo());
  assert.equal(graph.seed, 1n);
  assert.ok(history.undo());
  assert.deepEqual(graph.nodes[0].pos, [0, 0]);
  assert.equal(history.undo(), false);
  assert.ok(history.redo());
  assert.deepEqual(graph.nodes[0].pos, [5, 5]);
  graph.nodes[0].pos = [9, 9];  // an edit clears the redo steps
  assert.ok(history.checkpoint());
  assert.equal(history.redo(), false);
});

test("undo records an edit not yet checkpointed first; take() absorbs a change", () => {
  const { graph, history, restored } = graphHistory();
  graph.nodes[0].pos = [3, 3];
  assert.ok(history.undo());  // the pending move became a step, then was undone
  assert.deepEqual(graph.nodes[0].pos, [0, 0]);
  assert.equal(restored(), 1);
  assert.ok(history.redo());
  assert.deepEqual(graph.nodes[0].pos, [3, 3]);
  graph.size = [1, 2];  // not an edit (room for an image)
  history.take();
  assert.equal(history.checkpoint(), false);
});

test("run phase: loading until a node counts steps", () => {
  const run = { running: { prompt: null, node: null }, progress: { value: 0, max: 0 } };
  assert.equal(runPhase(run), "idle");
  run.running = { prompt: "p", node: null };
  assert.equal(runPhase(run), "loading");
  run.running.node = "4";
  assert.equal(runPhase(run), "loading");
  run.progress = { value: 1, max: 20 };
  assert.equal(runPhase(run), "stepping");
  assert.deepEqual(steppingNodes({ nodes: {
    "4": { state: "running", value: 0, max: 1, display_node_id: "4" },
    "3": { state: "running", value: 5, max: 20, display_node_id: "3" },
    "8": { state: "finished", value: 1, max: 1 } } }), { "3": { value: 5, max: 20 } });
  assert.deepEqual(steppingNodes(null), {});
});

test("a node brought to the front is no change; a moved one is", () => {
  const graph = { nodes: [{ id: 2, pos: [0, 0] }, { id: 10, pos: [5, 5] }] };
  const history = new History(() => structuredClone(graph), () => {}, { key: graphKey });
  history.reset();
  graph.nodes.reverse();
  assert.equal(history.checkpoint(), false);
  graph.nodes[0].pos = [7, 7];
  assert.equal(history.checkpoint(), true);
  assert.equal(graphKey({ nodes: [{ id: 10 }, { id: 9 }] }), '{"nodes":[{"id":9},{"id":10}]}');
});
